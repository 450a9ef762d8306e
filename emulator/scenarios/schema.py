"""The scenario file format, as pydantic models (the reference in `scenarios/README.md` is generated from them).

A file is one mapping:

    name: ...            # what it shows
    vendor: eightbyeight # whose API and actors
    seed: 42             # ids, fake names, signatures (self-contained runs)
    tenant: acme         # the tenant it builds and drives (its API key in open auth)
    variables: {...}     # initial `{{variables}}`
    setup: {...}         # the vendor's world (its own model, see ScenarioHooks.setup_model)
    actors: [...]        # rules: when <event matches> -> do <actions>, with delays on the clock
    steps: [...]         # optional timeline

Each step is a mapping with exactly one kind key: `- request: {...}`, `- expect_webhook: {...}`,
`- advance: 30`, `- wait_until_idle: {}`, `- behaviour: {...}` (vendors that declare a behaviour model,
`scenarios.behaviour`), a vendor step kind, or a vendor actor action written as in an actor
rule (`- {agent: say, text: Hi, conversation: "{{conv}}"}`). Steps and actions are pydantic unions
discriminated by that key. The vendor's parts are plugged in by `scenario_model(vendor, hooks)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, Tag, create_model, field_validator

from emulator.core.plugin import BehaviourSpec
from emulator.scenarios.behaviour import vendor_steps
from emulator.scenarios.hooks import ActionBase, ScenarioHooks, Strict

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_WITHIN = 10.0

# -- kernel steps -----------------------------------------------------------------------------------------


class RequestExpect(Strict):
    """What the response must be."""

    status: int | list[int] | None = Field(None, description="the status code (or any of a list); default: any 2xx")
    body: Any = Field(None, description="a subset of the JSON body (objects by key, lists item by item)")
    headers: dict[str, str] = Field(default_factory=dict, description="response headers that must have these values")


class RequestSpec(Strict):
    """An HTTP request to the emulator, as the integration under test would make it."""

    method: str = Field(description="GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS")
    path: str = Field(min_length=1, description="path and query, e.g. `{{api}}/conversations/{{conv}}/messages`")
    headers: dict[str, str] = Field(
        default_factory=dict, description="added to the vendor's defaults (8x8: `x-api-key: {{api_key}}`)"
    )
    json_body: Any = Field(None, alias="json", description="a JSON body")
    body: str | None = Field(None, description="a raw text body instead of `json`")
    expect: RequestExpect = Field(default_factory=RequestExpect, description="status and body to check")
    save: dict[str, str] = Field(
        default_factory=dict, description="variables to set from the JSON body: `{name: json.path}`"
    )

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.upper()
            if value not in HTTP_METHODS:
                raise ValueError(f"must be one of {', '.join(HTTP_METHODS)}")
        return value


class RequestStep(Strict):
    request: RequestSpec


class ExpectWebhookSpec(Strict):
    """Webhooks the tenant's deliveries must show (delivered, i.e. accepted by the receiver)."""

    match: dict[str, Any] = Field(
        default_factory=dict,
        description="a subset of the JSON body; `{$regex: ...}` and `{$exists: false}` stand in for values",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="request headers with these exact values")
    within: float = Field(
        DEFAULT_WITHIN,
        ge=0,
        le=30 * 86400,
        description="seconds of (virtual) time to advance, timer by timer, until the expectation is met",
    )
    count: int = Field(
        1,
        ge=0,
        le=10_000,
        description="how many matching webhooks (0: after `within` seconds, none that no earlier step matched)",
    )
    ordered: bool = Field(
        True,
        description="only webhooks sent after those matched by earlier ordered expect_webhook steps count; "
        "false: any webhook not matched yet",
    )
    save: dict[str, str] = Field(
        default_factory=dict, description="variables to set from the first matching body: `{name: json.path}`"
    )


class ExpectWebhookStep(Strict):
    expect_webhook: ExpectWebhookSpec


class AdvanceStep(Strict):
    advance: float = Field(ge=0, le=30 * 86400, description="seconds to move the (virtual) clock, running timers")


class WaitIdleSpec(Strict):
    max_steps: int | None = Field(None, ge=1, le=1_000_000, description="give up after this many timers")


class WaitUntilIdleStep(Strict):
    wait_until_idle: WaitIdleSpec = Field(default_factory=WaitIdleSpec)

    @field_validator("wait_until_idle", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


KERNEL_STEPS: dict[str, type[BaseModel]] = {
    "request": RequestStep,
    "expect_webhook": ExpectWebhookStep,
    "advance": AdvanceStep,
    "wait_until_idle": WaitUntilIdleStep,
}

KERNEL_STEP_DOCS: dict[str, str] = {
    "request": "send an HTTP request to the emulator (as the integration would), check the response, save values",
    "expect_webhook": "wait (on the clock) until matching webhooks were delivered; fail with the near misses",
    "advance": "move the clock forward by N seconds, running every timer that falls due (actors, retries)",
    "wait_until_idle": "run timers until nothing is scheduled (virtual clock: instantly)",
}

# -- the whole file ---------------------------------------------------------------------------------------


class When(Strict):
    """Which event fires a rule."""

    event: str = Field(description="a domain event kind or a webhook event type of the vendor (see its list)")
    match: dict[str, Any] = Field(
        default_factory=dict,
        description="a subset of the event's body (a webhook body, or `{kind, subject, data}` of a domain event)",
    )


class ScenarioBase(Strict):
    """The top level of a scenario file."""

    name: str = Field(min_length=1, max_length=200, description="what the scenario shows (the test's name)")
    description: str = Field("", description="free text")
    vendor: str = Field(description="the vendor slug, e.g. `eightbyeight`")
    seed: int = Field(0, ge=0, description="seed of ids, fake names and signatures in a self-contained run")
    tenant: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the tenant the scenario builds and drives (default: made from `name`); it is reset first",
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="initial `{{variables}}`")


def _kind_picker(kinds: Iterable[str]) -> Any:
    known = frozenset(kinds)

    def pick(value: Any) -> str | None:
        if isinstance(value, dict):
            hits = [k for k in value if k in known]
            return hits[0] if len(hits) == 1 else None
        if isinstance(value, BaseModel):
            for name in type(value).model_fields:
                if name in known:
                    return name
        return None

    return pick


def _union(members: dict[str, type[BaseModel]], what: str) -> Any:
    """A union of `members` discriminated by which of their kind keys a mapping has."""
    tagged = tuple(Annotated[model, Tag(key)] for key, model in members.items())
    if len(tagged) == 1:
        return next(iter(members.values()))
    kinds = ", ".join(members)
    return Annotated[
        Union[tagged],  # noqa: UP007 - built at run time from the vendor's kinds
        Discriminator(
            _kind_picker(members),
            custom_error_type=f"unknown_{what}",
            custom_error_message=f"a {what} has exactly one kind key, one of: {kinds}",
        ),
    ]


def step_kinds(hooks: ScenarioHooks, behaviour: BehaviourSpec | None = None) -> dict[str, type[BaseModel]]:
    """Every step kind of a vendor: the kernel's, the vendor's step kinds (with the generic `behaviour` step
    when it declares a behaviour), and its actor actions."""
    kinds: dict[str, type[BaseModel]] = dict(KERNEL_STEPS)
    for key, kind in vendor_steps(hooks, behaviour).items():
        kinds[key] = kind.model
    for key, action in hooks.actions.items():
        kinds[key] = action
    return kinds


@cache
def scenario_model(vendor: str, hooks: ScenarioHooks, behaviour: BehaviourSpec | None = None) -> type[ScenarioBase]:
    """The full model of a scenario file for one vendor (cached); `behaviour` is the plugin's."""
    for key in [*hooks.steps, *hooks.actions]:
        if key in KERNEL_STEPS or key in ScenarioBase.model_fields:
            raise ValueError(f"vendor {vendor!r}: step/action kind {key!r} clashes with a built-in one")
    events = tuple(hooks.event_names)
    event_type: Any = Literal[events] if events else str
    when = create_model(
        "When",
        __base__=When,
        __doc__=When.__doc__,
        event=(event_type, Field(description=When.model_fields["event"].description)),
    )
    action_type: Any = _union(dict(hooks.actions), "action") if hooks.actions else ActionBase
    rule = create_model(
        "ActorRule",
        __base__=Strict,
        __doc__="A behaviour rule: when an event matches, do the actions (one after another, on the clock).",
        name=(str | None, Field(None, description="shown in reports")),
        when=(when, Field(description="the triggering event")),
        do=(list[action_type], Field(min_length=1, description="actions, each `after` the previous one")),
        times=(int | None, Field(None, ge=1, description="fire at most this many times (default: every match)")),
    )
    step_type: Any = _union(step_kinds(hooks, behaviour), "step")
    model: type[ScenarioBase] = create_model(
        f"Scenario_{vendor}",
        __base__=ScenarioBase,
        __doc__=ScenarioBase.__doc__,
        setup=(hooks.setup_model, Field(default_factory=hooks.setup_model, description="the vendor's world")),
        actors=(list[rule], Field(default_factory=list, description="behaviour rules of vendor-side people")),
        steps=(list[step_type], Field(default_factory=list, description="the timeline, run in order")),
    )
    return model


def step_kind_of(step: BaseModel) -> str:
    """The kind key of a validated step."""
    if isinstance(step, ActionBase):
        return step.kind_key()
    return next(iter(type(step).model_fields))
