"""Samespace in scenario files: the `setup` cloud, the `callee` actor action and the `numbers` step.

    setup:
      auth_token: secret                  # the cloud's token ({{auth_token}}); the cloud is {{cloud_id}}
      callback_url: "{{webhook_url}}"     # call events go to the scenario's receiver
      http_overrides: {"https://crm.example.com": "{{webhook_url}}"}
      numbers: {"5263": {answer: busy}, "917507161643": {rings: 1, dtmf: ["1234"]}}
    actors:
      - when: {event: step.started, match: {data: {type: digits}}}
        do: [{after: 2, callee: press, digits: "1"}]

A flow in a `request` step uses Samespace's own `{{variable}}` templates; keep one literal by defining it
as itself in `variables:` (`account_id: "{{account_id}}"`), since scenario files template `{{...}}` too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.ids import TenantIds
from emulator.core.outbound import check_http_url
from emulator.core.runtime import Emulator
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.hooks import ActionBase, ScenarioContext, ScenarioHooks, StepKind, Strict
from emulator.vendors.samespace import hands
from emulator.vendors.samespace.config import CalleeBehaviour, FlowBehaviour
from emulator.vendors.samespace.constants import API_PREFIX, EVENTS, SLUG
from emulator.vendors.samespace.state import new_state, store
from emulator.vendors.samespace.views import callback


class SamespaceSetup(Strict):
    """The scenario's cloud. It is reset and built from this, as a configured cloud would be."""

    auth_token: str = Field("scenario-token", min_length=1, description="the cloud's auth token")
    callback_url: str | None = Field("{{webhook_url}}", description="where call events go (null: nowhere)")
    http_overrides: dict[str, str] = Field(default_factory=dict, description="http step URL prefix -> replacement")
    behaviour: FlowBehaviour = Field(default_factory=FlowBehaviour, description="timings and limits")
    default_callee: CalleeBehaviour = Field(default_factory=CalleeBehaviour, description="numbers not listed")
    numbers: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="per-number callee behaviour")


async def apply_setup(ctx: ScenarioContext, setup: Any) -> dict[str, Any]:
    assert isinstance(setup, SamespaceSetup)
    problem = check_http_url(setup.callback_url) if setup.callback_url is not None else None
    if problem is not None:
        raise ScenarioError(f"callback_url: {problem}")
    async with store(ctx.emu).tenant(ctx.tenant) as tx:
        state = tx.state
        state.auth_token = setup.auth_token
        state.callback_url = setup.callback_url
        state.http_overrides = dict(setup.http_overrides)
        state.behaviour = setup.behaviour
        state.default_callee = setup.default_callee
        state.numbers = dict(setup.numbers)
    ctx.emu.store.mark_provisioned(SLUG, ctx.tenant)  # strict auth takes the scenario's cloud
    return {"api": API_PREFIX, "cloud_id": ctx.tenant, "auth_token": setup.auth_token}


class CalleeAction(ActionBase):
    """The called person acts on a live call: `{callee: press, digits: "1"}` or `{callee: hangup}`."""

    callee: Literal["press", "hangup"] = Field(description="press (key in `digits`), hangup")
    digits: str | None = Field(None, pattern=r"^[0-9*#]+$", description="press: the keys")
    call: str | None = Field(None, description="call id (default: the call of the triggering event)")

    @model_validator(mode="after")
    def _needs(self) -> CalleeAction:
        if self.callee == "press" and not self.digits:
            raise ValueError("callee press needs `digits`")
        return self


async def perform(ctx: ScenarioContext, action: Any, subject: str | None) -> None:
    assert isinstance(action, CalleeAction)
    call_id = action.call or subject
    if not call_id:
        raise ScenarioError(f"{action.describe()}: which call? (set `call:` in a step)")
    try:
        if action.callee == "press":
            await hands.press(ctx.emu, ctx.tenant, str(call_id), str(action.digits))
        else:
            await hands.hang_up(ctx.emu, ctx.tenant, str(call_id))
    except EmulatorError as exc:
        raise ScenarioError(f"{action.describe()} on call {call_id}: {exc.message}") from None


class NumbersStep(Strict):
    numbers: dict[str, CalleeBehaviour] = Field(description="set how these numbers behave for calls placed from now")


async def run_numbers(ctx: ScenarioContext, step: Any) -> str | None:
    assert isinstance(step, NumbersStep)
    for number, behaviour in step.numbers.items():
        await hands.set_number(ctx.emu, ctx.tenant, number, behaviour)
    return ", ".join(step.numbers)


def event_views(event: DomainEvent) -> list[tuple[str, dict[str, Any]]]:
    """The callback body of a domain event (what the callback URL receives)."""
    return [(event.kind, callback(event))]


def export_setup(emu: Emulator, tenant: str) -> dict[str, Any]:
    """Save as scenario: the cloud as it was made (its config, not what the exported steps changed since), with
    its token (requests carry it in their bodies) and its callback, if it had one, at the replay's receiver."""
    made = new_state(emu, tenant, TenantIds(emu.store.seed, SLUG, tenant, {}))
    return {
        "auth_token": store(emu).view(tenant).auth_token or made.auth_token or "scenario-token",
        "callback_url": "{{webhook_url}}" if made.callback_url else None,
        "http_overrides": made.http_overrides,
        "behaviour": made.behaviour.model_dump(mode="json"),
        "default_callee": made.default_callee.model_dump(mode="json"),
        "numbers": {n: b.model_dump(mode="json") for n, b in made.numbers.items()},
    }


HOOKS = ScenarioHooks(
    setup_model=SamespaceSetup,
    apply_setup=apply_setup,
    actions={"callee": CalleeAction},
    perform=perform,
    event_names=EVENTS,
    event_views=event_views,
    steps={"numbers": StepKind(NumbersStep, run_numbers, "set how phone numbers behave (CalleeBehaviour each)")},
    export_setup=export_setup,
    variables_doc={
        "api": f"the API base path, `{API_PREFIX}`",
        "cloud_id": "the cloud id (the scenario's tenant)",
        "auth_token": "the cloud's auth token",
    },
    events_doc=(
        f"`when.event` is a call event ({', '.join(EVENTS)}); `when.match` is matched against the domain "
        "event `{kind, subject, data}` (`subject` is the call id; `data` is the callback's `data` plus its "
        "`step_id`), `expect_webhook` against the callback body `{event, call_id, cloud_id, step_id, timestamp, data}`."
    ),
)
