"""The `cxemu` command: serve, scenario run / validate, contracts export, version (and `--version`), and the
commands for a running server (tail, clock, act, trigger, redeliver: `emulator.remote`; verify-receiver:
`emulator.verify.client`), and sign / verify-signature (`emulator.signing_cli`).

Invalid options or configuration exit with status 2 after one `cxemu: error: ...` line per problem, each naming
the flag, variable or `file:line` at fault; a bare `cxemu` (or `cxemu scenario`) prints its commands and
exits 2. argparse's internal names (dests, `{a,b}` choice lists) never reach a message.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import gc
import ipaddress
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from emulator import __version__
from emulator.core import supervise
from emulator.core.contracts import to_yaml
from emulator.core.errors import ConfigError
from emulator.core.settings import Settings, check_state_file, shown_state
from emulator.remote import COMMANDS as REMOTE
from emulator.remote import add_commands
from emulator.remote import run as run_remote
from emulator.signing_cli import COMMANDS as SIGNING
from emulator.signing_cli import add_commands as add_signing_commands
from emulator.signing_cli import run as run_signing
from emulator.verify import client as verify

EXIT_USAGE = 2


_INVALID_CHOICE = re.compile(r"argument COMMAND: invalid choice: '?(?P<got>[^']*?)'? \(choose from (?P<choices>.*)\)")


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) in the user's words, and exits 2."""

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.match(message)
        if found:
            choices = re.findall(r"'([^']*)'", found["choices"]) or found["choices"].split(", ")
            close = difflib.get_close_matches(found["got"], choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            kind = f"{self.prog.removeprefix('cxemu').strip()} command".strip()
            message = f"unknown {kind} {found['got']!r}{hint}; commands: {', '.join(choices)}"
        self.exit(EXIT_USAGE, f"cxemu: error: {message}\n")


def _commands(parser: argparse.ArgumentParser, name: str, help: str) -> Any:
    """Subcommands named COMMAND in messages; a missing one is reported by `main` with the list of them."""
    return parser.add_subparsers(dest=name, metavar="COMMAND", title="commands", help=help, parser_class=_Parser)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _missing_command(parser: argparse.ArgumentParser) -> int:
    print(f"usage: {parser.prog} COMMAND [options]", file=sys.stderr)
    print(f"commands: {', '.join(_subcommands(parser))}  (`{parser.prog} COMMAND --help` for one)", file=sys.stderr)
    return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cxemu", description="Local emulator of contact-center vendor APIs.")
    parser.add_argument("--version", action="version", version=f"cxemu {__version__}")
    sub = _commands(parser, "command", "run `cxemu COMMAND --help` for its options")

    serve = sub.add_parser("serve", help="run the emulator")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1; CXEMU_HOST)")
    serve.add_argument("--port", help="port (default 8080, 0 = any free port; CXEMU_PORT)")
    serve.add_argument("--seed", help="seed of ids, fake data and chaos (default 0; CXEMU_SEED)")
    serve.add_argument("--clock", help="system (default) or virtual (CXEMU_CLOCK)")
    serve.add_argument("--config", help="YAML config file (CXEMU_CONFIG)")
    serve.add_argument("--auth", help="open (default) or strict (CXEMU_AUTH)")
    serve.add_argument("--webhook-url", help="default webhook target for vendors configured outside their API")
    serve.add_argument(
        "--no-webhook-log",
        action="store_false",
        dest="webhook_log",
        default=None,
        help="no console line per webhook delivery attempt (CXEMU_WEBHOOK_LOG=false)",
    )
    serve.add_argument(
        "--allow-private-targets",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send webhooks and http steps to loopback, private and metadata addresses "
        "(default: only when --host is loopback; CXEMU_ALLOW_PRIVATE_TARGETS)",
    )
    serve.add_argument("--state-file", help="save state here while running and at shutdown; restore it on start")
    serve.add_argument(
        "--state", help="memory (default) or redis://host:port/db: where tenant state lives (CXEMU_STATE)"
    )
    serve.add_argument(
        "--workers", help="worker processes on the port (default 1; more need --state redis://; CXEMU_WORKERS)"
    )
    serve.add_argument(
        "--advertise",
        metavar="HOST:PORT",
        help="where other replicas reach this one for forwarded requests (default: a private listener on "
        "127.0.0.1; set: worker i listens on PORT+i on 0.0.0.0; CXEMU_ADVERTISE)",
    )
    serve.add_argument("--lease-ttl", help="seconds a worker's lease on a tenant lasts (default 5; CXEMU_LEASE_TTL)")
    serve.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)  # a worker of `--workers N`: the port's socket
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument(
        "--state-save-interval",
        help="seconds between saves of the state file (default 5, 0 = off; CXEMU_STATE_SAVE_INTERVAL)",
    )
    serve.add_argument(
        "--state-reset", action="store_true", default=None, help="start empty instead of restoring the state file"
    )
    serve.add_argument("--log-level", help="debug, info (default), warning, error, critical")
    serve.add_argument(
        "--max-body-bytes",
        "--max-body",
        dest="max_body_bytes",
        help="largest request body in bytes, 413 past it (default 1048576; CXEMU_MAX_BODY_BYTES)",
    )
    serve.add_argument("--plugin", action="append", dest="plugins", help="extra vendor plugin module:attribute")
    # a shared sandbox (README "Running a shared sandbox")
    serve.add_argument("--admin-token", help="protect the control plane with this bearer token (CXEMU_ADMIN_TOKEN)")
    serve.add_argument(
        "--insecure-open-control-plane",
        action="store_true",
        default=None,
        help="bind a non-loopback address without an admin token, without the warning",
    )
    serve.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="FILE",
        help="load a scenario file at start (its actors meet the app under test); repeatable",
    )

    scenario = sub.add_parser("scenario", help="scenario files")
    ssub = _commands(scenario, "scenario_command", "what to do with the files")
    run = ssub.add_parser("run", help="run scenario files self-contained (virtual clock); exit 1 if any fails")
    run.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files or folders of them")
    run.add_argument("--junit", metavar="PATH", help="also write a JUnit XML report here")
    run.add_argument("--seed", help="override every scenario's seed")
    run.add_argument("--plugin", action="append", dest="plugins", help="extra vendor plugin module:attribute")
    run.add_argument("-q", "--quiet", action="store_true", help="print only failing scenarios and the summary")
    validate = ssub.add_parser("validate", help="check scenario files without running them; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files or folders of them")
    validate.add_argument("--plugin", action="append", dest="plugins", help="extra vendor plugin module:attribute")

    contracts = sub.add_parser("contracts", help="OpenAPI contracts")
    csub = _commands(contracts, "contracts_command", "what to do with the contracts")
    export = csub.add_parser("export", help="write contracts/*.openapi.yaml from the code")
    export.add_argument("--out", default="contracts", help="folder to write to (default ./contracts)")
    export.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files differ")

    sub.add_parser("version", help="print the version")
    add_commands(sub)
    verify.add_command(sub)
    add_signing_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _missing_command(parser)
        if getattr(args, f"{args.command}_command", "") is None:
            return _missing_command(_subcommands(parser)[args.command])
        if args.command == "serve":
            return _serve(args, list(sys.argv[1:] if argv is None else argv))
        if args.command == "contracts":
            return _export(Path(args.out), check=args.check)
        if args.command == "scenario":
            return _scenario_validate(args) if args.scenario_command == "validate" else _scenario_run(args)
        if args.command in REMOTE:
            return run_remote(args)
        if args.command == verify.COMMAND:
            return verify.run(args)
        if args.command in SIGNING:
            return run_signing(args)
        print(f"cxemu {__version__}")
        return 0
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"cxemu: error: {line}", file=sys.stderr)
        return EXIT_USAGE


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("host", "port", "seed", "clock", "config", "auth", "webhook_url", "state_file", "log_level")
    }
    overrides.update(state_save_interval=args.state_save_interval, state_reset=args.state_reset)
    overrides.update(state=args.state, workers=args.workers, advertise=args.advertise, lease_ttl=args.lease_ttl)
    overrides["webhook_log"] = args.webhook_log
    overrides["max_body_bytes"] = args.max_body_bytes
    overrides["allow_private_targets"] = args.allow_private_targets
    overrides.update(admin_token=args.admin_token, insecure_open_control_plane=args.insecure_open_control_plane)
    if args.plugins:
        overrides["plugins"] = tuple(args.plugins)
    return Settings.load(os.environ, overrides)


def _tune_gc() -> None:
    """A server keeps every conversation it saw: after start-up, move what exists out of the collector's way
    and collect the young generation less often. Full collections over a growing heap otherwise pause the
    event loop for tens of milliseconds (measured in bench/)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def _serve(args: argparse.Namespace, argv: list[str]) -> int:
    import uvicorn

    from emulator.app import create_app
    from emulator.core import sink
    from emulator.core.httpguard import protocol_for

    settings = _settings(args)
    check_state_file(settings.state_file)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    emulator = app.state.emulator
    supervisor = settings.workers > 1 and args.worker_fd is None
    if supervisor:
        supervise.check_redis(settings.state)  # the workers load the state; the parent only checks Redis answers
    else:
        emulator.load_state()  # a state file that cannot be restored stops the start here, in one line
    if args.scenarios:
        from emulator.scenarios.service import attach

        attach(app, _load_for_serve(app, args.scenarios))
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    if args.worker_fd is not None:
        sock = socket.socket(fileno=args.worker_fd)
    else:
        sock = _listen(settings.host, settings.port, family)
    port = sock.getsockname()[1]
    private: list[socket.socket] = []
    if emulator.fleet is not None and not supervisor:  # forwards from other workers arrive here
        address, listener = supervise.private_listener(settings.advertise, args.worker_index, _listen)
        emulator.fleet.address = address
        private.append(listener)
    shown = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
    url = f"http://{shown}:{port}"
    sink_url = sink.listening(emulator, settings.host, port)
    rows = [
        *((p.title, ", ".join(p.base_paths)) for p in emulator.plugins.values()),
        ("control plane", f"{url}/_emulator  (health: {url}/_emulator/health)"),
        ("webhook sink", f"{settings.webhook_url or sink_url + sink.PREFIX}  (webhooks with no target of yours)"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    lines = [
        f"cxemu {__version__} on {url}  (seed {settings.seed}, {settings.clock} clock, {settings.auth} auth"
        f"{', admin token set' if settings.admin_token is not None else ''}"
        f"{'' if settings.state == 'memory' else ', state ' + shown_state(settings.state)}"
        f"{f', {settings.workers} workers' if settings.workers > 1 else ''})",
        *(f"  {name:<{width}}{value}" for name, value in rows),
    ]
    if args.worker_fd is None:
        _warn_open(settings)
        print("\n".join(lines), flush=True)
    if supervisor:
        return supervise.run(sock, settings.workers, argv)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout) + 1),
        http=protocol_for(settings),
    )
    server = uvicorn.Server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again under the handler that was
    # in place before it started: with the defaults that kills the process (-15) or raises KeyboardInterrupt
    # (a traceback) after a clean, state-saving shutdown. With this handler in place the exit status is 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    _tune_gc()
    server.run(sockets=[sock, *private])
    if emulator.save_error is not None:
        print(f"cxemu: error: {emulator.save_error}", file=sys.stderr)
        return 1
    return 0 if server.started else 1


OPEN_WARNING = """\
cxemu: WARNING: the control plane is open on {host}, which is not a loopback address, and no admin token is
set. Anyone who can reach this port can read every tenant's credentials (GET /_emulator/state), mint new
ones, move the clock, set chaos for everyone and re-point any tenant's webhooks. For a shared sandbox set
--admin-token (or CXEMU_ADMIN_TOKEN) to a long random secret; tenants then reach their own data with their
own vendor credentials. If this network is private (a CI service container), say so with
--insecure-open-control-plane (CXEMU_INSECURE_OPEN_CONTROL_PLANE=true) and this warning goes away."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _warn_open(settings: Settings) -> None:
    """A loud paragraph on stderr when a non-loopback bind has no admin token (see README: binding)."""
    if settings.admin_token is None and not settings.insecure_open_control_plane and not _loopback(settings.host):
        print(OPEN_WARNING.format(host=settings.host), file=sys.stderr, flush=True)


def _listen(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """A listening socket, or a ConfigError blaming `--host` or `--port`, whichever is at fault."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except socket.gaierror as exc:
        sock.close()
        raise ConfigError(f"--host {host}: not an address or a name this machine resolves ({exc.strerror})") from None
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"--port {port}: cannot listen on {host}: already in use") from None
        raise ConfigError(f"--host {host} --port {port}: cannot listen ({exc.strerror})") from None
    sock.listen(2048)
    return sock


def _export(out: Path, *, check: bool) -> int:
    from emulator.app import control_contract, load_plugins

    docs: dict[str, dict[str, Any]] = {"control-plane": control_contract()}
    for plugin in load_plugins(Settings()):
        if plugin.contract is not None:
            docs[plugin.slug] = plugin.contract()
    drift = []
    for name, doc in docs.items():
        path = out / f"{name}.openapi.yaml"
        text = to_yaml(doc)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                drift.append(str(path))
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if drift:
        print(f"cxemu: contracts differ from the code: {', '.join(drift)} (run `cxemu contracts export`)")
        return 1
    return 0


def _scenario_files(specs: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise ConfigError(f"scenario {spec}: no .yaml files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"scenario {spec}: no such file")
    return files


def _load_for_serve(app: Any, specs: Sequence[str]) -> list[Any]:
    from emulator.scenarios.errors import LoadError
    from emulator.scenarios.loader import load_file

    plugins = app.state.emulator.plugins
    loaded = []
    for path in _scenario_files(specs):
        try:
            loaded.append(load_file(path, plugins))
        except LoadError as exc:
            raise ConfigError(f"--scenario {exc.first}") from None
    return loaded


def _scenario_validate(args: argparse.Namespace) -> int:
    """Load every file as `scenario run` would, run none; print every problem as `file:line: ...`."""
    from emulator.app import load_plugins
    from emulator.scenarios.errors import LoadError
    from emulator.scenarios.loader import load_file

    plugins = {p.slug: p for p in load_plugins(Settings.load({}, {"plugins": tuple(args.plugins or ())}))}
    files = _scenario_files(args.files)
    invalid = 0
    for path in files:
        try:
            load_file(path, plugins)
        except LoadError as exc:
            invalid += 1
            print(exc, flush=True)
        else:
            print(f"{path}: ok", flush=True)
    print(f"{len(files) - invalid} of {len(files)} scenario files valid")
    return 1 if invalid else 0


def _scenario_run(args: argparse.Namespace) -> int:
    import asyncio

    from emulator.app import load_plugins
    from emulator.scenarios.report import junit, render, summary_line
    from emulator.scenarios.standalone import run_path

    seed: int | None = None
    if args.seed is not None:
        try:
            seed = int(args.seed)
        except ValueError:
            raise ConfigError(f"--seed: must be a whole number >= 0, got {args.seed!r}") from None
        if seed < 0:
            raise ConfigError(f"--seed: must be a whole number >= 0, got {args.seed!r}")
    files = _scenario_files(args.files)
    plugins = load_plugins(Settings.load({}, {"plugins": tuple(args.plugins or ())}))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = []
    for path in files:
        result = asyncio.run(run_path(path, seed=seed, plugins=plugins))
        results.append(result)
        if not (args.quiet and result.passed):
            print(render(result), flush=True)
            print(flush=True)
    print(summary_line(results))
    if args.junit:
        out = Path(args.junit)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(junit(results), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--junit {out}: cannot write ({exc.strerror})") from None
    return 0 if all(r.passed for r in results) else 1
