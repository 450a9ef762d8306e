"""Settings: one frozen model, read once from `CXEMU_*` variables, an optional YAML file and CLI flags.

Precedence, highest first: command-line flags, `CXEMU_*` environment variables, the YAML file named by
`--config` / `CXEMU_CONFIG`, the defaults below. Nothing else in cxemu reads the environment. Bad values
raise one `ConfigError` listing every problem, one a line, each naming the variable, flag or `file:line` and
key at fault (with a did-you-mean for a misspelt key); `vendor_config_error` does the same for a vendor's
`vendors: {<slug>: ...}` section, which its plugin validates later (core/runtime.py).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from emulator.core.chaos import ChaosConfig
from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.errors import ConfigError
from emulator.core.outbound import check_http_url
from emulator.core.yamllines import LineLoader, PathKey, TooLarge, format_path, nearest_line

ENV_PREFIX = "CXEMU_"


class WebhookSettings(BaseModel):
    """Per-vendor delivery knobs (`webhooks: {<vendor>: {...}}` in the config file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_ladder: tuple[float, ...] | None = Field(
        None, description="seconds between attempts; the vendor's own ladder when unset"
    )
    timeout: float | None = Field(None, gt=0, le=300, description="seconds a receiver has to answer")


class RetentionLimits(BaseModel):
    """One vendor's retention bounds (`retention: {vendors: {<vendor>: {...}}}`), over the global ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int | None = Field(None, ge=0, le=10_000_000, description="ended conversations/chats/calls kept per tenant")
    age: float | None = Field(
        None, ge=0, description="seconds an ended one is kept on its tenant's timeline (0: no limit)"
    )


class RetentionSettings(RetentionLimits):
    """Ended conversations, chats and calls are kept up to `count` per tenant and kind, and for `age` seconds of
    the tenant's timeline, then evicted (their ids then answer the vendor's 404; `core.retention`). Unset: each
    vendor's default (README "Retention")."""

    enabled: bool = Field(True, description="false: keep everything, as before")
    vendors: dict[str, RetentionLimits] = Field(default_factory=dict, description="per-vendor bounds")


class Settings(BaseModel):
    """Everything configurable. Each field maps to `CXEMU_<NAME>` and to a top-level key of the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="interface to bind")
    port: int = Field(8080, ge=0, le=65535, description="port to bind (0 picks a free one)")
    seed: int = Field(0, ge=0, description="seed of every id, fake name and chaos decision")
    clock: Literal["system", "virtual"] = Field("system", description="`virtual`: time moves only when advanced")
    virtual_start: float = Field(
        DEFAULT_VIRTUAL_START, description="where the virtual clock starts (epoch seconds or ISO-8601)"
    )
    config: Path | None = Field(None, description="YAML file with tenants, vendors and behaviour")
    auth: Literal["open", "strict"] = Field(
        "open", description="`open`: unknown credentials create a tenant; `strict`: only configured ones work"
    )
    webhook_url: str | None = Field(
        None, description="default target for webhooks configured outside a vendor's API (else the built-in sink)"
    )
    webhook_log: bool = Field(True, description="a console line per webhook delivery attempt (at log level info)")
    sink_size: int = Field(1_000, ge=1, le=100_000, description="requests the built-in webhook sink keeps")
    state_file: Path | None = Field(
        None, description="state saved here while running and at shutdown (0600, atomically), restored on start"
    )
    state_save_interval: float = Field(
        5.0,
        ge=0,
        le=86_400,
        description="wall seconds between saves of the state file while running (0: only at start and stop)",
    )
    state_reset: bool = Field(
        False, description="start empty instead of restoring the state file (replaced at the next save)"
    )
    state: str = Field(
        "memory",
        description="where tenant state lives: `memory` (in the process) or `redis://host:port/db` "
        "(also `rediss://`, `unix://`; Redis or Valkey; needs `cxemu[redis]`)",
    )
    workers: int = Field(
        1, ge=1, le=64, description="worker processes on the port; more than 1 needs `state` on Redis (docs/scaling.md)"
    )
    advertise: str | None = Field(
        None,
        description="HOST:PORT other replicas reach this worker at for forwarded requests (default: a private "
        "listener on 127.0.0.1; set, the private listener binds PORT on 0.0.0.0)",
    )
    lease_ttl: float = Field(
        5.0, ge=0.5, le=300, description="seconds a worker's lease on a tenant lasts without renewal (Redis only)"
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    journal_size: int = Field(10_000, ge=0, description="inbound requests kept in the journal")
    # -- input limits (README "Limits"; core/limits.py, core/httpguard.py) --
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest request body (413 past it); vendor bodies are a few KiB"
    )
    max_upload_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="largest multipart/form-data body (8x8 attachment uploads)"
    )
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, le=1024 * 1024, description="largest request head (request line and headers; 431)"
    )
    max_headers: int = Field(100, ge=10, le=10_000, description="most request headers (431 past it)")
    request_timeout: float = Field(
        30.0, gt=0, le=3600, description="seconds a request (head and body) has to arrive, from its first byte"
    )
    idle_timeout: float = Field(
        5.0, gt=0, le=3600, description="seconds a connection may stay idle before its first or next request"
    )
    delivery_log_size: int = Field(5_000, ge=1, description="webhook deliveries kept in the delivery log")
    webhook_concurrency: int = Field(512, ge=1, le=10_000, description="webhook requests in flight at once")
    webhook_allow_hosts: tuple[str, ...] | None = Field(
        None, description="if set, webhooks only go to these host names (for shared demo sandboxes)"
    )
    webhook_tls_verify: bool = Field(
        True, description="verify the TLS certificates of https webhook targets (false: accept self-signed ones)"
    )
    # -- outbound safety and fairness (issue 18: SSRF guard, shared concurrency, bounded pending work) --
    allow_private_targets: bool | None = Field(
        None,
        description="send webhooks and http steps to loopback, private, link-local and metadata addresses "
        "(default: only when `host` is a loopback address)",
    )
    webhook_concurrency_per_tenant: int | None = Field(
        None, ge=1, le=10_000, description="webhook requests in flight for one tenant (default: half the pool)"
    )
    webhook_concurrency_per_target: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="webhook requests in flight to one host:port (default: half the pool)",
    )
    webhook_pending_limit: int = Field(
        200_000, ge=1, description="deliveries waiting to be sent or retried, in all; past it new ones are dropped"
    )
    webhook_pending_per_tenant: int = Field(
        50_000, ge=1, description="deliveries waiting for one tenant; past it its new ones are dropped"
    )
    # -- the feed: one journal of everything (core.feed; /_emulator/journal, /_emulator/events) --
    feed_size: int = Field(
        10_000, ge=0, le=1_000_000, description="entries the feed keeps (requests, events, deliveries, attempts...)"
    )
    feed_heartbeat: float = Field(
        15.0, gt=0, le=3600, description="default seconds between heartbeat comments on `/_emulator/events`"
    )
    event_listeners: int = Field(
        64, ge=0, le=10_000, description="`/_emulator/events` streams open at once (503 past it)"
    )
    drain_timeout: float = Field(5.0, ge=0, description="seconds a shutdown spends delivering what is pending")
    plugins: tuple[str, ...] = Field((), description="extra vendor plugins as `module:attribute`")
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict, description="per-vendor delivery knobs")
    chaos: ChaosConfig = Field(default_factory=ChaosConfig, description="seeded delivery faults at start")
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings, description="how many ended conversations, chats and calls are kept"
    )
    vendors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-vendor configuration (tenants, queues, agents, behaviour)"
    )
    # -- a shared sandbox (core.guard) --
    admin_token: SecretStr | None = Field(
        None,
        description="protects the control plane: `Authorization: Bearer <token>` (or a tenant's own credential)",
    )
    insecure_open_control_plane: bool = Field(
        False, description="bind a non-loopback address without an admin token, and without the warning"
    )
    _source: ConfigSource = PrivateAttr(default_factory=lambda: ConfigSource(None, {}))

    @field_validator("virtual_start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, str) and not _is_number(value):
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str, info: ValidationInfo) -> str:
        return check_state(value, info.data.get("state_file"))

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int, info: ValidationInfo) -> int:
        problem = check_workers(value, info.data.get("state", "memory")) if value > 1 else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("advertise")
    @classmethod
    def _advertise(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.data.get("state", "memory") == "memory":
            raise ValueError("is for workers sharing a state on Redis (--state redis://host:port/db)")
        return check_advertise(value)

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        problem = None if value is None else check_http_url(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("admin_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters, e.g. the output of `openssl rand -hex 16`")
        return value

    @field_validator("plugins", "webhook_allow_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    # -- loading --------------------------------------------------------------------------------------

    @classmethod
    def load(cls, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
        """Build the settings from an environment mapping and CLI overrides (None values are ignored).

        Every problem is reported at once, one per line of the `ConfigError`, each naming its variable, flag
        or `file:line`, with a did-you-mean for a misspelt key."""
        problems: list[str] = []
        sources: dict[str, str] = {}
        values: dict[str, Any] = {}
        from_env = {
            key[len(ENV_PREFIX) :].lower(): raw for key, raw in env.items() if key.startswith(ENV_PREFIX) and raw != ""
        }
        from_cli = {k: v for k, v in (overrides or {}).items() if v is not None}
        config_path = from_cli.get("config", from_env.get("config"))
        source = ConfigSource(None, {})
        if config_path is not None:
            source, file_values, file_problems = _read_yaml(Path(config_path))
            problems.extend(file_problems)
            values.update(file_values)
            sources.update({k: "file" for k in file_values})
        for name in sorted(k for k in from_env if k not in cls.model_fields):
            problems.append(f"{ENV_PREFIX}{name.upper()}: unknown setting{_did_you_mean(name, cls.model_fields)}")
            del from_env[name]
        values.update(from_env)
        sources.update({k: f"{ENV_PREFIX}{k.upper()}" for k in from_env})
        values.update(from_cli)
        sources.update({k: f"--{k.replace('_', '-')}" for k in from_cli})
        settings: Settings | None = None
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                head = str(loc[0]) if loc else "settings"
                where = sources.get(head, head)
                if where == "file":
                    problems.append(source.problem(loc, _message(err, cls, loc)))
                else:
                    rest = ".".join(str(p) for p in loc[1:])
                    problems.append(f"{where}{'.' + rest if rest else ''}: {_message(err, cls, loc)}")
        if problems or settings is None:
            raise ConfigError("\n".join(problems))
        settings._source = source
        return settings


@dataclass(frozen=True)
class ConfigSource:
    """The config file settings came from, with the line of every value (for errors found later)."""

    path: str | None
    lines: dict[PathKey, int]

    def problem(self, loc: PathKey, message: str) -> str:
        """`file:line: a.b.c: message` (just `a.b.c: message` when the value did not come from a file)."""
        shown = format_path(loc)
        if self.path is None:
            return f"{shown}: {message}"
        line = nearest_line(self.lines, loc)
        return f"{self.path}{f':{line}' if line else ''}: {shown}: {message}"


def vendor_config_error(settings: Settings, slug: str, model: type[BaseModel], exc: ValidationError) -> ConfigError:
    """Every problem of a vendor's `vendors: {<slug>: ...}` section, each with its file and line."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        problems.append(settings._source.problem(("vendors", slug, *loc), _message(err, model, loc)))
    return ConfigError("\n".join(problems))


def _message(err: Mapping[str, Any], model: type[BaseModel], loc: PathKey) -> str:
    if err["type"] == "extra_forbidden":
        return f"unknown setting{_did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1]))}"
    return str(err["msg"]).removeprefix("Value error, ")


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _fields_at(model: type[BaseModel], loc: PathKey) -> list[str]:
    """The field names of the model found at `loc` inside `model` (through nested models, dicts, lists)."""
    current: Any = model
    for part in loc:
        found = _as_model(current)
        if found is not None:
            field = found.model_fields.get(str(part))
            current = field.annotation if field is not None else None
        else:
            current = _element(current)
        if current is None:
            return []
    found = _as_model(current)
    return list(found.model_fields) if found is not None else []


def _as_model(annotation: Any) -> type[BaseModel] | None:
    """The model in `X` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    members = [a for a in get_args(annotation) if a is not type(None)]
    return _as_model(members[0]) if get_origin(annotation) is not None and len(members) == 1 else None


def _element(annotation: Any) -> Any:
    """X of `dict[str, X]`, `list[X]` or `tuple[X, ...]` (and of those `| None`)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    members = [a for a in args if a is not type(None)]
    return _element(members[0]) if len(members) == 1 else None


STATE_SCHEMES = ("redis", "rediss", "unix")


def check_state(value: str, state_file: Path | None = None) -> str:
    """`memory`, or the URL of a Redis (or Valkey) server whose database holds the tenants' state."""
    if value == "memory":
        return value
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in STATE_SCHEMES or not rest:
        raise ValueError("must be `memory` or a URL redis://host:port/db (or rediss://, unix://)")
    path = urlsplit(value).path.strip("/") if scheme != "unix" else ""
    if path and not path.isdigit():
        raise ValueError(f"the database in {value!r} must be a number (redis://host:port/0)")
    if state_file is not None:
        raise ValueError("a state file is for the memory backend: with Redis the state is kept there already")
    return value


def shown_state(value: str) -> str:
    """The `state` setting without a password in its URL (for the banner and messages)."""
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def check_workers(workers: int, state: str) -> str | None:
    """Why `workers` > 1 is refused (with the memory backend), or None."""
    if state == "memory":
        return (
            f"{workers} workers need a shared state: the memory backend lives in one process "
            "(use --state redis://host:port/db, and see docs/scaling.md)"
        )
    return None


def check_advertise(value: str) -> str:
    """`HOST:PORT` (IPv6 in brackets), the port 1-65535: where other replicas reach a worker."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be HOST:PORT with a port 1-65535, got {value!r}")
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        raise ValueError(f"an IPv6 address goes in brackets ([::1]:9000), got {value!r}")
    if any(c in host for c in "/?#@ ") or host in ("0.0.0.0", "[::]"):
        raise ValueError(f"must name an address other replicas can reach, got {value!r}")
    return value


def check_state_file(path: Path | None) -> None:
    """At start: the state file's folder exists and is writable (and the file, if any, is a readable file), so a
    session's state is not lost at shutdown to a typo found only then."""
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"state file {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"state file {path}: the folder {folder} is not writable")
    if path.exists() and not path.is_file():
        raise ConfigError(f"state file {path}: not a file")
    if path.exists() and not os.access(path, os.R_OK):
        raise ConfigError(f"state file {path}: not readable")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_yaml(path: Path) -> tuple[ConfigSource, dict[str, Any], list[str]]:
    """The file's values, where each came from, and the problems found in it (unknown or doubled keys)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not UTF-8 text") from None
    loader = LineLoader(text)
    try:
        data = loader.load_with_lines()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"config {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except (TooLarge, RecursionError):
        raise ConfigError(f"config {path}: too large or nested too deeply") from None
    finally:
        loader.dispose()
    source = ConfigSource(str(path), loader.lines)
    if data is None:
        return source, {}, []
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: the top level must be a mapping")
    problems = [source.problem(key, "duplicate key") for _, key in loader.duplicates]
    data.pop("config", None)
    for key in list(data):
        if key not in Settings.model_fields:
            problems.append(source.problem((key,), f"unknown setting{_did_you_mean(str(key), Settings.model_fields)}"))
            del data[key]
    return source, data, problems
