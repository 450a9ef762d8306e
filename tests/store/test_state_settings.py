"""`--state` and `--workers` as a user meets them: bad values, an unreachable Redis, a missing client library and
more than one worker stop `cxemu serve` with one line naming the culprit; the default path never imports redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.core.errors import ConfigError
from emulator.core.settings import Settings
from tests.support.procs import ROOT

TIMEOUT = 60


def run(*args: str, env: dict[str, str] | None = None, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m emulator ARGS` (or `python -c CODE`) with no CXEMU_* variables of this shell."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CXEMU_")} | (env or {})
    command = [sys.executable, "-c", code, *args] if code is not None else [sys.executable, "-m", "emulator", *args]
    return subprocess.run(command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxemu: error: ")
    assert " on http://" not in result.stdout  # it never got as far as serving
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (["--workers", "2"], {}, ["--workers: 2 workers need a shared state", "--state redis://"]),
        (["--workers", "3", "--state", "redis://127.0.0.1:1/0"], {}, ["state redis://127.0.0.1:1/0: Redis did not"]),
        ([], {"CXEMU_WORKERS": "2"}, ["CXEMU_WORKERS: 2 workers"]),
        (["--workers", "0"], {}, ["--workers: ", "greater than or equal to 1"]),
        (["--state", "mysql://db/0"], {}, ["--state: must be `memory` or a URL redis://host:port/db"]),
        (["--state", "redis://127.0.0.1:6379/cache"], {}, ["--state: the database in", "must be a number"]),
        ([], {"CXEMU_STATE": "disk"}, ["CXEMU_STATE: must be `memory`"]),
        (
            ["--state", "redis://127.0.0.1:1/0", "--state-file", "{tmp}/s.json"],
            {},
            ["--state: a state file is for the memory backend"],
        ),
    ],
    ids=["memory-workers", "redis-workers", "env-workers", "zero-workers", "scheme", "db", "env-state", "state-file"],
)
def test_bad_state_and_workers_stop_the_start_with_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], fragments: list[str]
) -> None:
    line = one_line_error(run("serve", "--port", "0", *(a.replace("{tmp}", str(tmp_path)) for a in args), env=env))
    for fragment in fragments:
        assert fragment in line, line


def test_an_unreachable_redis_stops_the_start_naming_it_without_its_password() -> None:
    line = one_line_error(run("serve", "--port", "0", "--state", "redis://user:s3cret@127.0.0.1:1/2"))
    assert "state redis://user:***@127.0.0.1:1/2: Redis did not answer" in line
    assert "s3cret" not in line


def test_without_the_redis_client_the_start_says_what_to_install() -> None:
    hide = "import sys; sys.modules['redis'] = None; from emulator.cli import main; sys.exit(main(sys.argv[1:]))"
    line = one_line_error(run("serve", "--port", "0", "--state", "redis://127.0.0.1:1/0", code=hide))
    assert line == "cxemu: error: --state redis://: the Redis client is not installed (pip install 'cxemu[redis]')"


def test_the_default_memory_path_never_imports_redis() -> None:
    code = (
        "import sys\n"
        "from emulator.app import create_app\n"
        "from emulator.core.settings import Settings\n"
        "app = create_app(Settings.load({}, {}))\n"
        "app.state.emulator.load_state()\n"
        "extra = ('redis', 'hiredis', 'emulator.core.fastjson')  # the `redis` extra and what needs it (orjson: core)\n"
        "print(sorted(m for m in sys.modules if m in extra or m.startswith('redis.')))\n"
    )
    result = run(code=code)
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        ("memory", "memory"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://cache.example:6380/3", "rediss://cache.example:6380/3"),
        ("redis://localhost", "redis://localhost"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_memory_and_redis_urls_are_accepted(state: str, kept: str) -> None:
    assert Settings.load({"CXEMU_STATE": state}, {}).state == kept


def test_one_worker_with_either_backend_is_accepted() -> None:
    assert Settings.load({}, {"workers": 1, "state": "redis://127.0.0.1:6379/0"}).workers == 1
    with pytest.raises(ConfigError, match="workers need a shared state"):
        Settings.load({}, {"workers": 2})
