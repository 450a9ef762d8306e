"""What a vendor contributes to scenarios (`VendorPlugin.scenario`): the kernel never imports a vendor.

- `setup_model` validates the `setup:` section (the world: queues, agents, channels, webhook targets) and
  `apply_setup` builds it in the scenario's tenant, returning variables for the rest of the file
  (e.g. `api_key`, `channel_id`).
- `actions` are the actor action kinds (e.g. 8x8 `agent`, `customer`): each a model with its kind key, used
  both in an actor rule's `do:` list and directly as a step; `perform` carries one out now.
- `event_names` are what an actor rule's `when.event` may name, and `event_views` turns one domain event into
  the (name, body) pairs rules match against (e.g. the webhook bodies it causes).
- `request_headers` are added to every `request` step (e.g. the tenant's API key); `steps` adds step kinds.
- `export_setup` and `export_request` serve "Save as scenario" (`scenarios.export`): the `setup:` section that
  rebuilds a live tenant's world, and a request step rewritten (or dropped: None) for a replay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from emulator.core.events import DomainEvent
from emulator.scenarios.match import interpolate

if TYPE_CHECKING:
    from emulator.core.runtime import Emulator


class Strict(BaseModel):
    """Scenario models reject unknown keys, so a typo is an error with its line, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ActionBase(Strict):
    """Fields every actor action has. A vendor's action model adds its kind key (e.g. `agent: say`)."""

    after: float = Field(
        0.0,
        ge=0,
        le=30 * 86400,
        description="seconds on the clock before acting: after the triggering event for an actor rule's first "
        "action, after the previous action for the next ones; before acting when used as a step",
    )

    @classmethod
    def kind_key(cls) -> str:
        """The key that names this action kind (the first field that is not `after`)."""
        return next(name for name in cls.model_fields if name != "after")

    def describe(self) -> str:
        """A short title for reports: `agent say "Hi"`."""
        data = self.model_dump(exclude_none=True, exclude={"after"})
        key = self.kind_key()
        head = f"{key} {data.pop(key)}"
        text = data.pop("text", None)
        rest = " ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, dict | list))
        out = head + (f" {text!r}" if text is not None else "") + (f" {rest}" if rest else "")
        return out if len(out) <= 90 else out[:87] + "..."


@dataclass
class ScenarioContext:
    """What vendor hooks get: the emulator, the scenario's tenant, and the variables in scope."""

    emu: Emulator
    vendor: str
    tenant: str
    variables: dict[str, Any]

    def render(self, value: Any) -> Any:
        """`value` with every `{{variable}}` replaced (raises ScenarioError for an unknown one)."""
        return interpolate(value, self.variables)


StepRunner = Callable[[ScenarioContext, Any], Awaitable[str | None]]
"""Runs a vendor step (its validated wrapper model); returns a note for the report, raises ScenarioError."""


@dataclass(frozen=True)
class StepKind:
    """A vendor step kind: a single-key wrapper model (`- <key>: ...`) and how to run it."""

    model: type[BaseModel]
    run: StepRunner
    summary: str


def _no_headers(ctx: ScenarioContext) -> dict[str, str]:
    return {}


def _default_setup(emu: Emulator, tenant: str) -> dict[str, Any]:
    return {}


def _as_is(spec: dict[str, Any]) -> dict[str, Any] | None:
    return spec


@dataclass(frozen=True, eq=False)
class ScenarioHooks:
    """See the module docstring."""

    setup_model: type[BaseModel]
    apply_setup: Callable[[ScenarioContext, Any], Awaitable[dict[str, Any]]]
    actions: Mapping[str, type[ActionBase]]
    perform: Callable[[ScenarioContext, Any, str | None], Awaitable[None]]
    """Carry out one action now, on the given subject (the triggering event's, or None in a step)."""
    event_names: Sequence[str]
    event_views: Callable[[DomainEvent], list[tuple[str, dict[str, Any]]]]
    request_headers: Callable[[ScenarioContext], dict[str, str]] = _no_headers
    steps: Mapping[str, StepKind] = field(default_factory=dict)
    variables_doc: Mapping[str, str] = field(default_factory=dict)
    """Variables `apply_setup` defines, with a description each (for the reference)."""
    events_doc: str = ""
    """How `when.event` names map to what the vendor does (for the reference)."""
    export_setup: Callable[[Emulator, str], dict[str, Any]] = _default_setup
    """The `setup:` section of an exported scenario for a live tenant (its world as it was made)."""
    export_request: Callable[[dict[str, Any]], dict[str, Any] | None] = _as_is
    """An exported `request` step as the replay must send it; None leaves it out."""
