"""The `cxemu` command: serve, scenario run, contracts export, version.

Invalid options or configuration print one line naming the bad field and exit with status 2.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from emulator import __version__
from emulator.core.contracts import to_yaml
from emulator.core.errors import ConfigError
from emulator.settings import Settings

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"cxemu: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cxemu", description="Local emulator of contact-center vendor APIs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

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
    serve.add_argument("--state-file", help="save state here on shutdown and restore it on start")
    serve.add_argument("--log-level", help="debug, info (default), warning, error, critical")
    serve.add_argument("--plugin", action="append", dest="plugins", help="extra vendor plugin module:attribute")
    serve.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="FILE",
        help="load a scenario file at start (its actors meet the app under test); repeatable",
    )

    scenario = sub.add_parser("scenario", help="scenario files")
    ssub = scenario.add_subparsers(dest="scenario_command", required=True, parser_class=_Parser)
    run = ssub.add_parser("run", help="run scenario files self-contained (virtual clock); exit 1 if any fails")
    run.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files or folders of them")
    run.add_argument("--junit", metavar="PATH", help="also write a JUnit XML report here")
    run.add_argument("--seed", help="override every scenario's seed")
    run.add_argument("--plugin", action="append", dest="plugins", help="extra vendor plugin module:attribute")
    run.add_argument("-q", "--quiet", action="store_true", help="print only failing scenarios and the summary")

    contracts = sub.add_parser("contracts", help="OpenAPI contracts")
    csub = contracts.add_subparsers(dest="contracts_command", required=True, parser_class=_Parser)
    export = csub.add_parser("export", help="write contracts/*.openapi.yaml from the code")
    export.add_argument("--out", default="contracts", help="folder to write to (default ./contracts)")
    export.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files differ")

    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "contracts":
            return _export(Path(args.out), check=args.check)
        if args.command == "scenario":
            return _scenario_run(args)
        print(f"cxemu {__version__}")
        return 0
    except ConfigError as exc:
        print(f"cxemu: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("host", "port", "seed", "clock", "config", "auth", "webhook_url", "state_file", "log_level")
    }
    overrides["webhook_log"] = args.webhook_log
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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from emulator.app import create_app
    from emulator.core import sink

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    if args.scenarios:
        from emulator.scenarios.service import attach

        attach(app, _load_for_serve(app, args.scenarios))
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--port {settings.port}: cannot listen on {settings.host} ({exc.strerror})") from None
    sock.listen(2048)
    port = sock.getsockname()[1]
    shown = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
    url = f"http://{shown}:{port}"
    emulator = app.state.emulator
    sink_url = sink.listening(emulator, settings.host, port)
    lines = [
        f"cxemu {__version__} on {url}  (seed {settings.seed}, {settings.clock} clock, {settings.auth} auth)",
        *(f"  {p.title:<28} {', '.join(p.base_paths)}" for p in emulator.plugins.values()),
        f"  {'control plane':<28} {url}/_emulator  (health: {url}/_emulator/health)",
        f"  {'webhook sink':<28} {settings.webhook_url or sink_url + sink.PREFIX}  (webhooks with no target of yours)",
    ]
    print("\n".join(lines), flush=True)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout) + 1),
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
    server.run(sockets=[sock])
    return 0 if server.started else 1


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
