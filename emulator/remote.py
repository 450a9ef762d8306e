"""The `cxemu` commands that talk to a running server (`emulator.client`): tail, clock, act, trigger, redeliver.

`emulator.cli` declares their options (`add_commands`) and calls `run(args)`; each command prints to stdout and
returns its exit status. A `ClientError` (server unreachable, 401/403, 404, refused input) or a bad argument is
raised as `ConfigError`, which `cli.main` prints as one `cxemu: error: ...` line before exiting 2.

| command | what it does |
|---|---|
| `tail` | the unified journal as console lines (or `--json` entries), resumed with `Last-Event-ID` after a drop |
| `clock [advance N \\| run-until-idle]` | read or move the virtual clock (`--tenant`: a tenant's own timeline) |
| `act VENDOR PARTY [ID] VERB [ARG]` | one hand action of a vendor's party (`ACTS`: agent, customer, call, ...) |
| `trigger VENDOR FLOW` | load a flow from the scenario library into the server, print each webhook until it ends |
| `redeliver ID [--as-was] [--to URL]` | send a delivery again (re-signed by default) and print its attempt |
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.client import DEFAULT_URL, Client, ClientError, attempt_line, entry_line
from emulator.core.clock import iso, wall_monotonic
from emulator.core.errors import ConfigError

COMMANDS = ("tail", "clock", "act", "trigger", "redeliver")
LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
"""The scenario library of a source checkout (`scenarios/<vendor>/*.yaml`); `--library` names another."""
KINDS = ("request", "control", "event", "delivery", "attempt", "timer", "action")


# -- act: the hand actions of each vendor --------------------------------------------------------------------

Build = Callable[[str | None], dict[str, Any]]


def _action(verb: str, field_name: str | None = None) -> Build:
    """A body `{"action": verb}`, with the argument as `field_name` when the verb takes one."""

    def build(arg: str | None) -> dict[str, Any]:
        return {"action": verb} | ({field_name: arg} if field_name and arg is not None else {})

    return build


def _field(field_name: str | None) -> Build:
    return lambda arg: {field_name: arg} if field_name and arg is not None else {}


@dataclass(frozen=True)
class Verb:
    build: Build
    arg: str | None = None
    """The argument's name in help (None: the verb takes none)."""
    path: str = ""
    """Appended to the party's path (e.g. Samespace's `/digits`)."""


@dataclass(frozen=True)
class Party:
    path: str
    """Under `/vendors/<vendor>/tenants/<tenant>/`, with `{id}` where the party's id goes."""
    id_name: str | None
    verbs: dict[str, Verb] = field(default_factory=dict)


def _verbs(*plain: str, **with_arg: tuple[str, str]) -> dict[str, Verb]:
    """Verbs sent as `{"action": verb}`; `with_arg`: verb -> (body field, argument name)."""
    out = {v: Verb(_action(v)) for v in plain}
    out.update({v: Verb(_action(v, f), a) for v, (f, a) in with_arg.items()})
    return out


ACTS: dict[str, dict[str, Party]] = {
    "eightbyeight": {
        "agent": Party(
            "conversations/{id}/agent",
            "CONVERSATION",
            _verbs("join", "typing", "stop_typing", "leave", say=("text", "TEXT"), transfer=("queueId", "QUEUE")),
        ),
        "customer": Party("conversations/{id}/customer", "CONVERSATION", _verbs("leave", say=("text", "TEXT"))),
    },
    "sangoma": {
        "widget": Party("customers", None, {"start": Verb(_field("text"), "TEXT")}),
        "customer": Party(
            "conversations/{id}/customer", "CONVERSATION", _verbs("idle", "active", say=("text", "TEXT"))
        ),
        "agent": Party(
            "conversations/{id}/agent",
            "CONVERSATION",
            _verbs(
                "assign", "typing", "stop_typing", "resolve", "pending", say=("text", "TEXT"), note=("text", "TEXT")
            ),
        ),
        "call": Party("calls/{id}", "CALL", _verbs("answer", "busy", "no_answer", "agent_answer", "hang_up")),
    },
    "cmcom": {
        "end-user": Party(
            "end-users/{id}/messages",
            "NUMBER",
            {
                "say": Verb(_field("text"), "TEXT"),
                "media": Verb(lambda arg: {"media": {"mediaUri": arg}}, "URL"),
                "button": Verb(lambda arg: {"button": {"id": arg, "title": arg}}, "ID"),
            },
        ),
        "agent": Party("chats/{id}/agent", "CHAT", _verbs("take_over", "hand_back", say=("text", "TEXT"))),
    },
    "samespace": {
        "call": Party(
            "calls/{id}",
            "CALL",
            {
                "answer": Verb(_field(None), path="/answer"),
                "digits": Verb(_field("digits"), "DIGITS", "/digits"),
                "hangup": Verb(_field(None), path="/hangup"),
            },
        ),
    },
}
"""vendor -> party -> its verbs: the routes of `/_emulator/vendors/<vendor>/tenants/<tenant>/...` (README,
control plane). `--field key=value` adds any other field the route takes (`agentId`, `channel`, `name`...)."""


def act_usage() -> str:
    lines = ["hand actions (cxemu act VENDOR PARTY [ID] VERB [ARG] --tenant T):"]
    for vendor, parties in ACTS.items():
        for name, party in parties.items():
            verbs = " | ".join(f"{v} {verb.arg}" if verb.arg else v for v, verb in party.verbs.items())
            lines.append(f"  {vendor} {name}{' ' + party.id_name if party.id_name else ''} {{{verbs}}}")
    return "\n".join(lines)


# -- options ------------------------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    """The client commands' subparsers (on `cxemu`'s `_commands` action)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help=f"the running server (default {DEFAULT_URL})")
    common.add_argument("--admin-token", help="the server's admin token (default: CXEMU_ADMIN_TOKEN)")

    tail = sub.add_parser("tail", parents=[common], help="follow the server's journal as console lines")
    tail.add_argument("--vendor", help="only this vendor")
    tail.add_argument("--tenant", help="only this tenant")
    tail.add_argument("--subject", help="only this conversation, chat or call id")
    tail.add_argument("--kind", action="append", help=f"only these kinds ({', '.join(KINDS)}); repeatable")
    tail.add_argument("--after", type=_whole, help="start after this journal id (default: only new entries)")
    tail.add_argument("--json", action="store_true", help="print each entry as one line of JSON")
    tail.add_argument("--count", type=_positive, help="stop after this many entries")

    clock = sub.add_parser("clock", parents=[common], help="read the clock, advance it, run it until idle")
    clock.add_argument("action", nargs="?", choices=("advance", "run-until-idle"), metavar="ACTION")
    clock.add_argument("seconds", nargs="?", help="advance: seconds to move")
    clock.add_argument("--tenant", action="append", help="a tenant's own timeline (repeatable to move several)")

    act = sub.add_parser(
        "act",
        parents=[common],
        help="act as an agent, customer or phone of a vendor",
        epilog=act_usage(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    act.add_argument("vendor", metavar="VENDOR")
    act.add_argument("party", metavar="PARTY")
    act.add_argument("words", nargs="*", metavar="[ID] VERB [ARG]")
    act.add_argument("--tenant", required=True, help="the tenant")
    act.add_argument("--field", action="append", default=[], metavar="KEY=VALUE", help="another body field")

    trigger = sub.add_parser("trigger", parents=[common], help="run a flow from the scenario library on a tenant")
    trigger.add_argument("vendor", nargs="?", metavar="VENDOR")
    trigger.add_argument("flow", nargs="?", metavar="FLOW")
    trigger.add_argument("--list", action="store_true", help="name the flows (of VENDOR, or all)")
    trigger.add_argument("--tenant", help="run it in this tenant (default: the file's)")
    trigger.add_argument("--webhook-url", help="send the tenant's webhooks here (default: the server's)")
    trigger.add_argument("--library", type=Path, default=LIBRARY, help=f"the scenario library (default {LIBRARY})")
    trigger.add_argument("--timeout", type=_positive_float, default=120.0, help="wall seconds to follow it")

    redeliver = sub.add_parser("redeliver", parents=[common], help="send a webhook delivery again")
    redeliver.add_argument("delivery_id", metavar="DELIVERY_ID")
    mode = redeliver.add_mutually_exclusive_group()
    mode.add_argument("--re-sign", action="store_const", const="re_sign", dest="mode", help="sign it again now")
    mode.add_argument("--as-was", action="store_const", const="as_was", dest="mode", help="the exact headers sent")
    redeliver.add_argument("--to", metavar="URL", help="send it to this URL instead")
    redeliver.add_argument("--wait", type=_positive_float, default=10.0, help="wall seconds to wait for its attempt")


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = _whole(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


# -- running them ------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run one client command; `ConfigError` (printed by `cli.main`, exit 2) for any error."""
    try:
        return _run(args)
    except BrokenPipeError:  # `cxemu tail | head`: the reader has gone, which ends the command as it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "trigger" and args.list:
        return _list_flows(args.library, args.vendor)
    token = args.admin_token or os.environ.get("CXEMU_ADMIN_TOKEN") or None
    try:
        with Client(args.url, token) as client:
            if command == "tail":
                return _tail(client, args)
            if command == "clock":
                return _clock(client, args)
            if command == "act":
                return _act(client, args)
            if command == "trigger":
                return _trigger(client, args)
            return _redeliver(client, args)
    except ClientError as exc:
        raise ConfigError(str(exc)) from None


def _print(line: str) -> None:
    print(line, flush=True)


def _tail(client: Client, args: argparse.Namespace) -> int:
    kinds = [k.strip() for spec in args.kind or () for k in spec.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"--kind {unknown[0]}: not a journal kind ({', '.join(KINDS)})")
    params: dict[str, str] = {
        k: v for k, v in (("vendor", args.vendor), ("tenant", args.tenant), ("subject", args.subject)) if v
    }
    if kinds:
        params["kind"] = ",".join(kinds)
    shown = 0
    for frame in client.follow(params, after=args.after):
        if frame.kind == "gap":  # `restarted`: the server's ids started again (`follow` takes the new ones)
            why = "ids started again: cxemu restarted" if frame.entry.get("restarted") else "entries lost before these"
            print(f"cxemu: {json.dumps(frame.entry)} ({why})", flush=True)
            continue
        if frame.kind == "unavailable":  # a fleet's Redis stopped answering: `follow` resumes once it does
            print(f"cxemu: {frame.entry.get('message', 'the stream is unavailable')}", flush=True)
            continue
        _print(json.dumps(frame.entry, ensure_ascii=False) if args.json else entry_line(frame.entry))
        shown += 1
        if args.count is not None and shown >= args.count:
            return 0
    return 0


def _clock(client: Client, args: argparse.Namespace) -> int:
    tenants: list[str] = args.tenant or []
    if args.action is None:
        if args.seconds is not None:
            raise ConfigError(
                f"clock: unexpected {args.seconds!r} (did you mean `cxemu clock advance {args.seconds}`?)"
            )
        if len(tenants) > 1:
            raise ConfigError("--tenant: one tenant to read (several only to advance or run until idle)")
        return _show_clock(client.clock(tenants[0] if tenants else None))
    if args.action == "advance":
        if args.seconds is None:
            raise ConfigError("clock advance: how many seconds? (`cxemu clock advance 30`)")
        try:
            seconds = float(args.seconds)
        except ValueError:
            raise ConfigError(f"clock advance: seconds must be a number, got {args.seconds!r}") from None
        step = client.advance(seconds, tenants)
    else:
        if args.seconds is not None:
            raise ConfigError(f"clock run-until-idle: unexpected {args.seconds!r}")
        step = client.run_until_idle(tenants)
    _print(f"now {step['iso']}, {step['timers_run']} timer(s) run")
    for tenant, now in step["timelines"].items():
        _print(f"  {tenant}: {iso(now, millis=True)}")
    return 0


def _show_clock(clock: Mapping[str, Any]) -> int:
    whose = f"tenant {clock['tenant']}" if clock["tenant"] else "shared timeline"
    busy = ", busy" if clock["busy"] else ""
    _print(f"{whose}: {clock['iso']} ({clock['mode']} clock), {clock['pending_timers']} timer(s) pending{busy}")
    for t in clock["timers"]:
        args = f" {json.dumps(t['args'], ensure_ascii=False)}" if t["args"] else ""
        _print(f"  {t['iso']}  {t['vendor'] or '-'}  {t['what']}{args}")
    return 0


def _act(client: Client, args: argparse.Namespace) -> int:
    parties = ACTS.get(args.vendor)
    if parties is None:
        raise ConfigError(f"act: unknown vendor {args.vendor!r}; vendors: {', '.join(ACTS)}")
    party = parties.get(args.party)
    if party is None:
        raise ConfigError(f"act {args.vendor}: unknown party {args.party!r}; parties: {', '.join(parties)}")
    words = list(args.words)
    usage = f"act {args.vendor} {args.party}{' ' + party.id_name if party.id_name else ''} VERB"
    if party.id_name is not None:
        if not words:
            raise ConfigError(f"{usage}: the {party.id_name.lower()} id is missing")
        party_id = words.pop(0)
    if not words:
        raise ConfigError(f"{usage}: the verb is missing; verbs: {', '.join(party.verbs)}")
    name = words.pop(0)
    verb = party.verbs.get(name)
    if verb is None:
        raise ConfigError(f"{usage}: unknown verb {name!r}; verbs: {', '.join(party.verbs)}")
    if verb.arg is None and words:
        raise ConfigError(f"{usage}: {name} takes no argument, got {' '.join(words)!r}")
    arg = " ".join(words) if words else None
    body = verb.build(arg) | _fields(args.field)
    path = party.path.format(id=party_id) if party.id_name is not None else party.path
    answer = client.act(args.vendor, args.tenant, path + verb.path, body)
    _print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0


def _fields(specs: Sequence[str]) -> dict[str, Any]:
    """`--field key=value` pairs: the value as JSON when it is JSON (`5`, `true`, `{...}`), else the text."""
    out: dict[str, Any] = {}
    for spec in specs:
        key, eq, value = spec.partition("=")
        if not eq or not key:
            raise ConfigError(f"--field {spec!r}: must be KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


# -- trigger -------------------------------------------------------------------------------------------------


def flows(library: Path) -> dict[str, dict[str, Path]]:
    """vendor -> flow name -> file: each `<vendor>/NN_name.yaml` of the library is the flow `name`."""
    if not library.is_dir():
        raise ConfigError(f"--library {library}: no scenario library there")
    out: dict[str, dict[str, Path]] = {}
    for path in sorted(library.glob("*/*.yaml")):
        name = path.stem.split("_", 1)[1] if path.stem[:2].isdigit() and "_" in path.stem else path.stem
        out.setdefault(path.parent.name, {})[name] = path
    return out


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            return line.removeprefix("name:").strip().strip("\"'")
    return ""


def _list_flows(library: Path, vendor: str | None) -> int:
    found = flows(library)
    if vendor is not None and vendor not in found:
        raise ConfigError(f"trigger: no flows for vendor {vendor!r}; vendors: {', '.join(found)}")
    for slug, named in found.items():
        if vendor is None or slug == vendor:
            for name, path in named.items():
                _print(f"{slug} {name}  {_title(path)}")
    return 0


def _flow(library: Path, vendor: str | None, flow: str | None) -> Path:
    if vendor is None or flow is None:
        raise ConfigError("trigger: name a VENDOR and a FLOW (`cxemu trigger --list` names them)")
    found = flows(library)
    named = found.get(vendor)
    if named is None:
        raise ConfigError(f"trigger: no flows for vendor {vendor!r}; vendors: {', '.join(found)}")
    path = named.get(flow) or next((p for p in named.values() if p.stem == flow), None)
    if path is None:
        raise ConfigError(f"trigger {vendor}: no flow {flow!r}; flows: {', '.join(named)}")
    return path


def _trigger(client: Client, args: argparse.Namespace) -> int:
    """Load the flow, then print each attempt of its tenant's deliveries as it settles, until the flow's steps
    have finished and nothing of its tenant is pending (or `--timeout` wall seconds pass)."""
    path = _flow(args.library, args.vendor, args.flow)
    run = client.load_scenario(path.read_text(encoding="utf-8"), tenant=args.tenant, webhook_url=args.webhook_url)
    _print(f"{run['id']}: {run['name']} ({run['vendor']}/{run['tenant']})")
    shown: set[tuple[str, int]] = set()
    deadline = _Deadline(args.timeout)
    try:
        while True:
            run = client.scenario(run["id"])
            done = run["status"] != "running"
            settled = _show_attempts(client, run["vendor"], run["tenant"], shown, wait=0 if done else 1)
            if done and settled:
                break
            if deadline.passed():
                raise ConfigError(f"trigger: {run['id']} still {run['status']} after {args.timeout:g}s (--timeout)")
    finally:
        client.unload_scenario(run["id"])
    failed = [s for s in run["steps"] if s["status"] == "failed"]
    _print(f"{run['id']}: {run['status']} ({len(run['steps'])} steps, {run['webhooks']} webhooks)")
    for step in failed:
        _print(f"  steps[{step['index']}] {step['title']}: {step['message']}")
    if run["error"]:
        _print(f"  error: {run['error']}")
    return 0 if run["status"] == "passed" else 1


def _show_attempts(client: Client, vendor: str, tenant: str, shown: set[tuple[str, int]], wait: float) -> bool:
    """Print the attempts not shown yet, after waiting up to `wait` seconds for one more delivery of the tenant to
    settle; whether every delivery of the tenant has settled."""
    filters: dict[str, str | int | float] = {"vendor": vendor, "tenant": tenant, "body": "false"}
    if wait:
        settled = {d["id"] for d in client.deliveries(**filters) if d["status"] != "pending"}
        filters.update(wait=wait, count=len(settled) + 1)
    found = client.deliveries(**filters)
    for d in found:
        for a in d["attempts"]:
            if (d["id"], a["n"]) not in shown:
                shown.add((d["id"], a["n"]))
                _print(attempt_line(d, a))
    return all(d["status"] != "pending" for d in found)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = wall_monotonic() + seconds

    def passed(self) -> bool:
        return wall_monotonic() >= self.at


# -- redeliver -----------------------------------------------------------------------------------------------


def _redeliver(client: Client, args: argparse.Namespace) -> int:
    """Queue the redelivery, then wait (up to `--wait` wall seconds) for its first attempt and print its attempts;
    exit 1 when it failed for good."""
    new = client.redeliver(args.delivery_id, mode=args.mode, url=args.to)
    how = "as it was" if args.mode == "as_was" else "re-signed"
    _print(f"{new['id']}: redelivery of {args.delivery_id} ({how}) -> {new['url']}")
    deadline, pause = _Deadline(args.wait), 0.05
    while not new["attempts"] and not deadline.passed():
        time.sleep(pause)  # a client polling a server's view: no long-poll waits for "an attempt was made"
        pause = min(pause * 2, 0.5)
        new = client.delivery(new["id"])
    for a in new["attempts"]:
        _print(attempt_line(new, a))
    if not new["attempts"]:
        _print(f"{new['id']}: not attempted yet after {args.wait:g}s")
    return 1 if new["status"] == "failed" else 0
