"""Settings: one frozen model, read once from `CXEMU_*` variables, an optional YAML file and CLI flags.

Precedence, highest first: command-line flags, `CXEMU_*` environment variables, the YAML file named by
`--config` / `CXEMU_CONFIG`, the defaults below. Nothing else in cxemu reads the environment. A bad value
raises `ConfigError` whose message names the variable, flag or YAML key at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from emulator.core.chaos import ChaosConfig
from emulator.core.clock import DEFAULT_VIRTUAL_START
from emulator.core.errors import ConfigError
from emulator.core.outbound import check_http_url
from emulator.core.web import first_loc

ENV_PREFIX = "CXEMU_"


class WebhookSettings(BaseModel):
    """Per-vendor delivery knobs (`webhooks: {<vendor>: {...}}` in the config file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_ladder: tuple[float, ...] | None = Field(
        None, description="seconds between attempts; the vendor's own ladder when unset"
    )
    timeout: float | None = Field(None, gt=0, le=300, description="seconds a receiver has to answer")


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
    state_file: Path | None = Field(None, description="snapshot saved on graceful shutdown and restored on start")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    journal_size: int = Field(10_000, ge=0, description="inbound requests kept in the journal")
    delivery_log_size: int = Field(5_000, ge=1, description="webhook deliveries kept in the delivery log")
    webhook_concurrency: int = Field(256, ge=1, le=10_000, description="webhook requests in flight at once")
    webhook_allow_hosts: tuple[str, ...] | None = Field(
        None, description="if set, webhooks only go to these host names (for shared demo sandboxes)"
    )
    webhook_tls_verify: bool = Field(
        True, description="verify the TLS certificates of https webhook targets (false: accept self-signed ones)"
    )
    drain_timeout: float = Field(5.0, ge=0, description="seconds a shutdown spends delivering what is pending")
    plugins: tuple[str, ...] = Field((), description="extra vendor plugins as `module:attribute`")
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict, description="per-vendor delivery knobs")
    chaos: ChaosConfig = Field(default_factory=ChaosConfig, description="seeded delivery faults at start")
    vendors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-vendor configuration (tenants, queues, agents, behaviour)"
    )

    @field_validator("virtual_start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, str) and not _is_number(value):
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        problem = None if value is None else check_http_url(value)
        if problem is not None:
            raise ValueError(problem)
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
        """Build the settings from an environment mapping and CLI overrides (None values are ignored)."""
        sources: dict[str, str] = {}
        values: dict[str, Any] = {}
        from_env = {
            key[len(ENV_PREFIX) :].lower(): raw for key, raw in env.items() if key.startswith(ENV_PREFIX) and raw != ""
        }
        from_cli = {k: v for k, v in (overrides or {}).items() if v is not None}
        config_path = from_cli.get("config", from_env.get("config"))
        if config_path is not None:
            file_values = _read_yaml(Path(config_path))
            values.update(file_values)
            sources.update({k: f"{config_path}: {k}" for k in file_values})
        unknown = sorted(k for k in from_env if k not in cls.model_fields)
        if unknown:
            raise ConfigError(f"{ENV_PREFIX}{unknown[0].upper()}: unknown setting")
        values.update(from_env)
        sources.update({k: f"{ENV_PREFIX}{k.upper()}" for k in from_env})
        values.update(from_cli)
        sources.update({k: f"--{k.replace('_', '-')}" for k in from_cli})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            loc, msg = first_loc(exc)
            head = loc[0] if loc else "settings"
            where = sources.get(head, head)
            rest = ".".join(loc[1:])
            raise ConfigError(f"{where}{'.' + rest if rest else ''}: {msg}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"config {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: the top level must be a mapping")
    data.pop("config", None)
    for key in data:
        if key not in Settings.model_fields:
            raise ConfigError(f"config {path}: {key}: unknown setting")
    return data
