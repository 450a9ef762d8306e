"""Redis's own time per call of the owner's two hot scripts (the commit, `core.redisstore._COMMIT`, and the runtime
write, `core.redisruntime._WRITE`), one git revision's text against this tree's, on one `redis-server`.

    .venv/bin/python bench/luacost.py --redis redis://127.0.0.1:PORT/0 [--base main] [--rounds 10]

Each script is loaded from both sources and called 1,000 times per block with the arguments of an 8x8 message on
the owner's path (a commit: the state document, the counters, one conversation of ~1 KB and the outbox entry; a
runtime write: the delivery made, its attempt started, the previous one settled to the log, the outbox entry cleared,
the clock and the delivery number), the blocks of the two sources alternated (the commit's arguments are a layout
every revision since branch fold reads: one collection, no recorded attempts; the runtime write's are the op list
before branch rcost and its sections after); `INFO commandstats` gives the usec per
`EVALSHA` of each block (reset before it), and the median of the blocks is printed. The Redis is flushed first:
never point it at one that holds anything. Wall time inside Redis, so a loaded machine inflates both sides alike;
compare the two in one run.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

import redis

TREE = Path(__file__).resolve().parent.parent
FILES = ("emulator/core/redisstore.py", "emulator/core/redisruntime.py")
NAMES = ("_SLICED", "_TYPED", "_COMMIT", "_WRITE")


def scripts(source: str) -> dict[str, str]:
    """The script texts a module defines (string constants, and sums of them)."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in NAMES:
            found[node.targets[0].id] = eval(compile(ast.Expression(node.value), "<script>", "eval"), {}, dict(found))
    return found


def load(rev: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in FILES:
        if rev is None:
            text = (TREE / name).read_text()
        else:
            text = subprocess.check_output(["git", "-C", str(TREE), "show", f"{rev}:{name}"], text=True)
        out.update(scripts(text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", required=True, help="a redis-server of its own (it is flushed)")
    parser.add_argument("--base", default="main", help="the git revision to compare this tree with")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    r = redis.Redis.from_url(args.redis)
    r.flushall()
    sources = {args.base: load(args.base), "this tree": load(None)}
    body = json.dumps({"x": "y" * 900})
    commit_keys = ["cxemu:{t}:v:e", "cxemu:{t}:v:e:c:items", "cxemu:{t}:owner", "cxemu:{t}:outbox"]
    parts = ("dlv", "flight", "log", "jobs", "clock", "seq")
    r.set(commit_keys[2], "w:1")
    shas = {tag: (r.script_load(s["_COMMIT"]), r.script_load(s["_WRITE"]), s["_WRITE"]) for tag, s in sources.items()}

    def commit(sha: str) -> None:
        for i in range(1000):
            v = int(r.hget(commit_keys[0], "v") or 0)
            args_: list[Any] = [v, "w:1", body, 1, 2, "s", body[:300], "c", "{}", 1, f"k{i % 50}", f"{i} {body}", 0]
            r.evalsha(sha, len(commit_keys), *commit_keys, *args_)
            r.ltrim(commit_keys[3], -10, -1)

    def write(sha: str, text: str) -> None:
        keys = ["cxemu:{t}:owner", *(f"cxemu:{{t}}:rt:{p}" for p in parts), "cxemu:{t}:outbox"]
        if "KEYS[9]" in text:  # the tenant's own faults' key, since branch fleetfix
            keys.append("cxemu:{t}:rt:chaos")
        grouped = "do not add up" in text  # since branch rcost: one section per kind of op, not a list of ops
        for i in range(1000):
            if grouped:  # X, P, S, F, J, K, clock, last number, faults, cleared entries
                flight = '{"n":0,"at":1}'
                ops = [0, 1, f"d{i}", body, 1, f"d{i - 1}", body, 1, f"d{i}", flight, 0, 0, "123.5", i, 0, 1, "e"]
                ops.append("gone")
                r.evalsha(sha, len(keys), *keys, "", 5000, *ops)
                continue
            ops = ["P", f"d{i}", body, "F", f"d{i}", '{"n":0,"at":1}', "S", f"d{i - 1}", body, "R", "gone"]
            r.evalsha(sha, len(keys), *keys, "", 5000, *ops, "C", "123.5", "N", i)

    got: dict[str, list[float]] = {f"{k} {t}": [] for k in ("commit", "write") for t in sources}
    tags = list(sources)
    for n in range(args.rounds):
        for tag in tags if n % 2 == 0 else tags[::-1]:
            for kind in ("commit", "write"):
                r.config_resetstat()
                if kind == "commit":
                    commit(shas[tag][0])
                else:
                    write(shas[tag][1], shas[tag][2])
                got[f"{kind} {tag}"].append(float(r.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]))
    for name, values in got.items():
        blocks = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:24} {statistics.median(values):6.2f} us per call (blocks: {blocks})")
    r.flushall()


if __name__ == "__main__":
    main()
