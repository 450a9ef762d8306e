"""The generic `behaviour:` step, with the echo test vendor (which declares `behaviour=BehaviourSpec(...)`): it
loads only with the model's fields and valid values, merges over the tenant's behaviour when it runs (the
others stay), fails a run on an invalid merge, and is documented in the vendor's section of the reference."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import Field, model_validator

from emulator.core.events import DomainEvent
from emulator.core.plugin import BehaviourSpec, VendorPlugin
from emulator.scenarios.docs import generate
from emulator.scenarios.errors import LoadError, ScenarioError
from emulator.scenarios.hooks import ScenarioContext, ScenarioHooks, StepKind, Strict
from emulator.scenarios.loader import load_text
from emulator.scenarios.results import ScenarioResult
from emulator.scenarios.standalone import run_loaded
from tests.support import echo_vendor


class EchoSetup(Strict):
    webhook: str = Field("{{webhook_url}}", description="the tenant's webhook")


async def apply_setup(ctx: ScenarioContext, setup: Any) -> dict[str, Any]:
    async with echo_vendor.store(ctx.emu).tenant(ctx.tenant) as tx:
        tx.state.webhook_url = setup.webhook
    return {}


async def perform(ctx: ScenarioContext, action: Any, subject: str | None) -> None:
    raise ScenarioError("the echo vendor has no actions")


def views(event: DomainEvent) -> list[tuple[str, dict[str, Any]]]:
    return [(event.kind, dict(event.data))]


HOOKS = ScenarioHooks(
    setup_model=EchoSetup,
    apply_setup=apply_setup,
    actions={},
    perform=perform,
    event_names=("item.created", "item.pinged"),
    event_views=views,
    request_headers=lambda ctx: {"x-echo-tenant": ctx.tenant},
)
ECHO = dataclasses.replace(echo_vendor.PLUGIN, scenario=HOOKS)


class PickyBehaviour(echo_vendor.EchoBehaviour):
    """Echo's behaviour with a rule across two fields (only a whole merge can check it)."""

    @model_validator(mode="after")
    def _long_delay_needs_a_greeting(self) -> PickyBehaviour:
        if self.ping_delay > 60 and self.greeting == "hello":
            raise ValueError("a ping delay over 60 s needs another greeting")
        return self


def scenario(*steps: str, variables: str = "{}") -> str:
    return "\n".join(
        ["name: echo behaviour", "vendor: echo", "tenant: t1", f"variables: {variables}", "steps:", *steps]
    )


PING_AFTER_BEHAVIOUR = (
    "  - request: {method: POST, path: /echo/v1/items, json: {text: a}, save: {item: id}}",
    '  - request: {method: POST, path: "/echo/v1/items/{{item}}/ping", json: {}}',
    "  - expect_webhook: {match: {event: pinged}, within: 29.9, count: 0}",
    "  - expect_webhook: {match: {event: pinged}, within: 0.1}",
    "  - request:",
    "      method: PUT",
    "      path: /_emulator/vendors/echo/tenants/t1/behaviour",
    "      json: {}",
    "      expect: {body: {ping_delay: 30, greeting: hello}}",
)


async def run(text: str, plugin: VendorPlugin = ECHO) -> ScenarioResult:
    return await run_loaded(load_text(text, "echo.yaml", {plugin.slug: plugin}), plugins=[plugin])


def statuses(result: ScenarioResult) -> list[tuple[str, str, str | None]]:
    return [(s.kind, s.status, s.message) for s in result.steps]


async def test_the_step_changes_the_given_fields_from_now_on_and_keeps_the_others() -> None:
    result = await run(scenario("  - behaviour: {ping_delay: 30}", *PING_AFTER_BEHAVIOUR))
    assert result.status == "passed", statuses(result)
    assert statuses(result)[0] == ("behaviour", "passed", "ping_delay=30")


async def test_a_template_value_is_checked_once_filled_in() -> None:
    ok = await run(scenario('  - behaviour: {ping_delay: "{{d}}"}', *PING_AFTER_BEHAVIOUR, variables="{d: 30}"))
    assert ok.status == "passed", statuses(ok)

    bad = await run(scenario('  - behaviour: {ping_delay: "{{d}}"}', variables="{d: -5}"))
    [(kind, status, message)] = statuses(bad)
    assert (kind, status) == ("behaviour", "failed")
    assert message == (
        "after filling in variables: behaviour: Value error, ping_delay: Input should be greater than or equal to 0"
    )


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            "{ping_dealy: 3}",
            "steps[0].behaviour: ping_dealy: not a field of EchoBehaviour (one of: ping_delay, greeting)",
        ),
        ("{ping_delay: -1}", "steps[0].behaviour: ping_delay: Input should be greater than or equal to 0"),
        ("{greeting: ''}", "steps[0].behaviour: greeting: String should have at least 1 character"),
        ("[ping_delay]", "steps[0].behaviour: Input should be a valid dictionary"),
    ],
    ids=["unknown-field", "out-of-range", "too-short", "not-a-mapping"],
)
def test_a_bad_step_does_not_load(step: str, problem: str) -> None:
    with pytest.raises(LoadError) as caught:
        load_text(scenario(f"  - behaviour: {step}"), "echo.yaml", {"echo": ECHO})
    assert caught.value.first == f"echo.yaml:6: {problem}"


def test_a_vendor_without_a_behaviour_model_has_no_behaviour_step() -> None:
    plain = dataclasses.replace(ECHO, behaviour=None)
    with pytest.raises(LoadError) as caught:
        load_text(scenario("  - behaviour: {ping_delay: 1}"), "echo.yaml", {"echo": plain})
    assert caught.value.first == (
        "echo.yaml:6: steps[0]: unknown step kind 'behaviour'; expected one of: request, expect_webhook, advance, "
        "wait_until_idle"
    )
    loaded = load_text(scenario("  - behaviour: {ping_delay: 1}"), "echo.yaml", {"echo": ECHO})
    assert loaded.behaviour == ECHO.behaviour


async def test_an_invalid_merge_fails_the_step_and_leaves_the_behaviour() -> None:
    picky = dataclasses.replace(ECHO, behaviour=BehaviourSpec(PickyBehaviour))
    result = await run(
        scenario(
            "  - behaviour: {ping_delay: 90}",  # valid field by field; the merge with greeting hello is not
            "  - behaviour: {greeting: hey}",
        ),
        picky,
    )
    assert statuses(result) == [
        ("behaviour", "failed", "behaviour: a ping delay over 60 s needs another greeting"),
        ("behaviour", "skipped", None),
    ]
    again = await run(
        scenario(
            "  - behaviour: {greeting: hey}",
            "  - behaviour: {ping_delay: 90}",
            "  - request:",
            "      {method: PUT, path: /_emulator/vendors/echo/tenants/t1/behaviour, json: {},"
            " expect: {body: {ping_delay: 90, greeting: hey}}}",
        ),
        picky,
    )
    assert again.status == "passed", statuses(again)


async def test_a_vendor_step_of_its_own_wins() -> None:
    async def own(ctx: ScenarioContext, step: Any) -> str | None:
        return "the vendor's own"

    class OwnStep(Strict):
        behaviour: dict[str, Any]

    hooks = dataclasses.replace(HOOKS, steps={"behaviour": StepKind(OwnStep, own, "the vendor's own step")})
    result = await run(scenario("  - behaviour: {anything: 1}"), dataclasses.replace(ECHO, scenario=hooks))
    assert statuses(result) == [("behaviour", "passed", "the vendor's own")]


def test_the_reference_documents_the_step_for_the_vendor() -> None:
    text = generate([ECHO])
    vendor = text.split("### echo — Echo (test vendor)", 1)[1]
    assert "- `behaviour`: change fields of the tenant's EchoBehaviour from now on (the others stay)" in vendor
    table = vendor.split("##### `behaviour` (EchoBehaviour)", 1)[1]
    assert "| `ping_delay` | number | `0` | added to every ping's delay |" in table
    assert "`- behaviour: {field: value, ...}` exists for every vendor that declares a behaviour model" in text
    assert "`behaviour` (EchoBehaviour)" not in generate([dataclasses.replace(ECHO, behaviour=None)])
