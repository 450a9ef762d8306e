"""The generic `behaviour:` step, for every vendor whose plugin declares `behaviour=BehaviourSpec(...)`.

    steps:
      - behaviour: {auto: false, join_delay: 5}   # fields of the vendor's behaviour model; the others stay

- Load: the keys must be fields of the model and each value valid for its field (a value that is a
  `{{template}}` is checked once it is filled in; a rule across fields, once the step runs).
- Run: `core.plugin.merge_behaviour` puts the fields over the tenant's current behaviour, validated as a
  whole (the same merge as `PUT /_emulator/vendors/<slug>/tenants/{tenant}/behaviour`); an invalid result
  fails the step and leaves the behaviour as it was. The report notes `field=value, ...`.

`vendor_steps(hooks, spec)` is a vendor's step kinds: its own, plus this one when it declares a behaviour (a
vendor's own `behaviour` step, if it still has one, wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from emulator.core.plugin import BehaviourSpec, merge_behaviour
from emulator.core.web import first_loc
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.hooks import ScenarioContext, ScenarioHooks, StepKind, Strict

KEY = "behaviour"


def check_changes(model: type[BaseModel], changes: Mapping[str, Any]) -> None:
    """Raise `ValueError` (`field: problem`) unless every key is a field of `model` with a valid value."""
    unknown = [k for k in changes if k not in model.model_fields]
    if unknown:
        raise ValueError(f"{unknown[0]}: not a field of {model.__name__} (one of: {', '.join(model.model_fields)})")
    given = {k: v for k, v in changes.items() if not (isinstance(v, str) and "{{" in v)}
    try:
        model.model_validate(given)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            # a field the step leaves out keeps the tenant's value, and a rule across fields (no location)
            # depends on those values: both are for the merge when the step runs
            if loc and (err["type"] != "missing" or loc[0] in given):
                raise ValueError(f"{'.'.join(str(p) for p in loc)}: {err['msg']}") from None


@cache
def behaviour_kind(spec: BehaviourSpec) -> StepKind:
    """The `behaviour:` step of one vendor's behaviour model."""
    name = spec.model.__name__

    class BehaviourStep(Strict):
        behaviour: dict[str, Any] = Field(description=f"fields of the tenant's {name} to change from now on")

        @field_validator(KEY)
        @classmethod
        def _valid(cls, value: dict[str, Any]) -> dict[str, Any]:
            check_changes(spec.model, value)
            return value

    async def run(ctx: ScenarioContext, step: Any) -> str | None:
        changes: dict[str, Any] = step.behaviour
        try:
            async with ctx.emu.store.tenant(ctx.vendor, ctx.tenant) as tx:
                merge_behaviour(spec, tx.state, changes)
        except ValidationError as exc:
            loc, msg = first_loc(exc)
            where = f"{'.'.join(loc)}: " if loc else ""
            raise ScenarioError(f"behaviour: {where}{msg.removeprefix('Value error, ')}") from None
        return ", ".join(f"{k}={v}" for k, v in changes.items())

    return StepKind(BehaviourStep, run, f"change fields of the tenant's {name} from now on (the others stay)")


def vendor_steps(hooks: ScenarioHooks, spec: BehaviourSpec | None) -> dict[str, StepKind]:
    """A vendor's step kinds: the generic `behaviour` step when it declares a behaviour, then its own."""
    generic = {KEY: behaviour_kind(spec)} if spec is not None else {}
    return {**generic, **hooks.steps}
