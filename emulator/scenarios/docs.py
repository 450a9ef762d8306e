"""Generate the scenario reference (`scenarios/README.md`) from the schema, so it cannot drift.

    python -m emulator.scenarios.docs > scenarios/README.md

Every table comes from the pydantic models (kernel and each vendor's hooks); the worked example is the first
library file of the reference vendor, and its failure report is produced by running it with a wrong
expectation. A test fails when the checked-in file differs from this output.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from emulator.core.plugin import VendorPlugin
from emulator.scenarios import schema
from emulator.scenarios.behaviour import KEY as BEHAVIOUR
from emulator.scenarios.behaviour import behaviour_kind, vendor_steps
from emulator.scenarios.errors import LoadError
from emulator.scenarios.hooks import ActionBase, ScenarioHooks
from emulator.scenarios.loader import load_text
from emulator.scenarios.match import OPERATORS
from emulator.scenarios.report import render
from emulator.scenarios.standalone import builtin_plugins, run_loaded

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios"
EXAMPLE = ("eightbyeight", "01_queue_agent_chat_end.yaml")


def type_name(tp: Any) -> str:
    """A short, readable spelling of a field's type."""
    origin = get_origin(tp)
    if tp is Any or tp is None:
        return "any" if tp is Any else "null"
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in get_args(tp))
    if origin is typing.Annotated:
        return type_name(get_args(tp)[0])
    if origin in (list, tuple):
        args = get_args(tp)
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        args = get_args(tp)
        return f"mapping of {type_name(args[1])}" if args else "mapping"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "mapping", list: "list"}
    if isinstance(tp, type) and tp in names:
        return names[tp]
    return getattr(tp, "__name__", str(tp))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(built)"
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "defaults"
    text = json.dumps(value, ensure_ascii=False, default=_plain)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"`{text}`".replace("|", "\\|")


def _plain(value: Any) -> Any:
    return value.model_dump(exclude_defaults=True) if isinstance(value, BaseModel) else str(value)


def _cell(text: str | None) -> str:
    return (text or "").replace("\n", " ").replace("|", "\\|")


def field_table(model: type[BaseModel], skip: Iterable[str] = ()) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        key = info.alias or name
        lines.append(f"| `{key}` | {type_name(info.annotation)} | {_default(info)} | {_cell(info.description)} |")
    return lines


def _models_under(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> None:
    for info in model.model_fields.values():
        for tp in _walk_types(info.annotation):
            if isinstance(tp, type) and issubclass(tp, BaseModel) and tp.__name__ not in seen:
                seen[tp.__name__] = tp
                _models_under(tp, seen)


def _walk_types(tp: Any) -> Iterable[Any]:
    yield tp
    for arg in get_args(tp):
        yield from _walk_types(arg)


def section(
    model: type[BaseModel], title: str | None = None, level: str = "####", skip: Iterable[str] = ()
) -> list[str]:
    name = title or model.__name__
    doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
    out = [f"{level} {name}", ""]
    if doc and not doc.startswith("Usage docs"):
        out += [doc, ""]
    return [*out, *field_table(model, skip), ""]


def _library() -> list[str]:
    lines = ["| file | scenario | what it shows |", "|---|---|---|"]
    for path in sorted(LIBRARY.glob("*/*.yaml")):
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rel = path.relative_to(LIBRARY)
        desc = " ".join(str(data.get("description", "")).split())
        lines.append(f"| [`{rel}`]({rel}) | {_cell(str(data.get('name', '')))} | {_cell(desc)} |")
    return lines


async def _failure_example(plugins: dict[str, VendorPlugin], text: str) -> str:
    broken = text.replace('text: "Your balance is 12.34."}}', 'text: "Your balance is 12.43."}}', 1)
    loaded = load_text(broken, "greeting.yaml", plugins)
    result = await run_loaded(loaded, plugins=list(plugins.values()))
    return render(result, wall=False)


def _broken_example(plugins: dict[str, VendorPlugin]) -> str:
    text = "name: typo\nvendor: eightbyeight\nsteps:\n  - advance: 5\n  - expect_webhook: {within: soon}\n"
    try:
        load_text(text, "typo.yaml", plugins)
    except LoadError as exc:
        return str(exc)
    return ""


def generate(plugins: Iterable[VendorPlugin]) -> str:
    by_slug = {p.slug: p for p in plugins}
    vendors = [(p, p.scenario) for p in by_slug.values() if isinstance(p.scenario, ScenarioHooks)]
    out: list[str] = [
        "# Scenarios",
        "",
        "<!-- generated by `python -m emulator.scenarios.docs > scenarios/README.md`; do not edit by hand -->",
        "",
        "A scenario file scripts what the vendor side does — its agents, customers and callees — and what the",
        "integration should see. One YAML file declares the world (`setup`), behaviour rules (`actors`: *when* an",
        "event matches, *do* actions, with delays on the clock) and an optional timeline (`steps`: requests,",
        "expected webhooks, clock moves). Every file in `scenarios/<vendor>/` is also a test of `make test`.",
        "",
        "## Three ways to run one file",
        "",
        "| how | command | what happens |",
        "|---|---|---|",
        "| CLI, self-contained | `cxemu scenario run FILE... [--junit out.xml] [--seed N] [-q]` | a fresh "
        "in-process emulator on a virtual clock seeded with the file's `seed`, a built-in webhook receiver "
        "(`{{webhook_url}}`), a step-by-step report; exit status 0 when every file passed, 1 otherwise, 2 for "
        "a usage error |",
        "| live server | `cxemu serve --scenario FILE` or `POST /_emulator/scenarios` (body: the YAML) | the "
        "scenario's tenant is reset and built, its actors meet the app under test, its steps run in the "
        "background; `GET /_emulator/scenarios/{id}` shows progress, each step's result and the report; "
        "`DELETE` unloads it. Query `tenant=`, `webhook_url=` override the file (default target: "
        "`--webhook-url`, else a built-in receiver). The server's seed and clock mode apply; the scenario runs on "
        "its tenant's own timeline, so its `advance` moves no other tenant's time |",
        "| pytest | `pytest --cxemu-scenarios` (or ini `cxemu_scenarios = true`) | every `scenarios/**/*.yaml` "
        "under the rootdir is one test item, run self-contained; a failure shows the report |",
        "",
        "Same seed, same file: byte-identical webhook bodies, run after run. On the virtual clock an hour of "
        "agent delays takes a fraction of a second of wall time.",
        "",
    ]
    slug, name = EXAMPLE
    example_path = LIBRARY / slug / name
    if slug in by_slug and example_path.exists():
        text = example_path.read_text(encoding="utf-8")
        report = asyncio.run(_failure_example(by_slug, text))
        out += [
            "## Worked example",
            "",
            f"[`{slug}/{name}`]({slug}/{name}) — a chat is queued, a scripted agent joins, greets, answers and ends "
            "it; the steps check every webhook the integration receives:",
            "",
            "```yaml",
            text.rstrip(),
            "```",
            "",
            "- `setup` builds the tenant `acme`: one queue, one agent, the default webhook pointing at "
            "`{{webhook_url}}`; `behaviour: {auto: false}` turns the simulated agents off so the `actors` are "
            "the agent.",
            "- Each actor rule fires when a committed event matches `when`; its `do` actions run one after "
            "another, each `after` seconds on the clock (`{user}`/`{agent}` are first names).",
            "- `request` steps act as the integration (the `x-api-key` is added); `save` keeps "
            "`conversationId` as `{{conv}}`.",
            "- `expect_webhook` advances the virtual clock timer by timer, up to `within` seconds, until a "
            "matching webhook was delivered; by default each one must come after the previous expectation's.",
            "",
            "Change one expected text (`12.34` → `12.43`) and the run fails with the step, the expectation, the "
            "webhooks that came closest (each difference listed) and the virtual time:",
            "",
            "```text",
            report,
            "```",
            "",
            "A file that is not valid fails before it runs, naming the file, line and step:",
            "",
            "```text",
            _broken_example(by_slug),
            "```",
            "",
        ]
    out += [
        "## File format",
        "",
        "One mapping. Unknown keys are errors (with their line), so a typo never passes silently.",
        "",
        *section(schema.ScenarioBase, "Top level", "###")[:-1],
        "| `setup` | the vendor's setup model | defaults | the vendor's world (see the vendor's section) |",
        "| `actors` | list of [ActorRule](#actorrule) | `[]` | behaviour rules of vendor-side people |",
        "| `steps` | list of steps | `[]` | the timeline, run in order; the first failing step ends the run |",
        "",
        "### Variables and templates",
        "",
        "`{{name}}` in any string is replaced by a variable; `{{name.path[0].key}}` reads into a saved value. A "
        "string that is exactly one `{{...}}` takes the variable's value itself (a number stays a number). "
        "Variables come from `variables:`, from `save:` of a step, and built in: `tenant`, `vendor`, `seed`, "
        "`webhook_url` (the receiver), plus the vendor's (below). Inside an actor action, `{{subject}}` is the "
        "triggering event's subject (e.g. the conversation) and `{{event...}}` its body. An unknown variable "
        "fails the step that uses it, naming the variables there are.",
        "",
        "### Matching",
        "",
        "`match`, `expect.body` and `when.match` are *subsets*: objects match by key (other keys may be "
        "there), lists item by item (same length), other values by equality. Operators stand in for a value: "
        + ", ".join(f"`{op}`" for op in OPERATORS)
        + ' — `{$regex: "(?i)bye"}` matches a string that contains the pattern, `{$exists: false}` requires '
        "the key to be absent.",
        "",
        "### Steps",
        "",
        "Each step is a mapping with exactly one kind key. The kernel's kinds:",
        "",
        "| kind | what it does |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in schema.KERNEL_STEP_DOCS.items()),
        "",
        "A vendor adds its own kinds, and every actor action (below) is also a step, written the same way "
        '(`- {agent: say, text: Hi, conversation: "{{conv}}"}`); in a step, `after` first advances the clock.',
        "",
        "`- advance: 30` takes the seconds; `- wait_until_idle: {}` takes an optional `max_steps`.",
        "",
        "`- behaviour: {field: value, ...}` exists for every vendor that declares a behaviour model (the knobs "
        "of its simulated people, the same ones `PUT /_emulator/vendors/<slug>/tenants/{tenant}/behaviour` "
        "sets): the fields given change from now on, the others stay. Each key must be a field of the model "
        "with a valid value (checked when the file loads; a `{{template}}` value once it is filled in), and "
        "the merged behaviour must be valid, else the step fails and the behaviour stays as it was.",
        "",
        *section(schema.RequestSpec, "request", "####"),
        *section(schema.RequestExpect, "RequestExpect", "####"),
        *section(schema.ExpectWebhookSpec, "expect_webhook", "####"),
        "`expect_webhook` looks at the webhooks delivered for the scenario's tenant (the exact bodies and headers "
        "sent, from the delivery log). A webhook matched by one expectation is not matched again. With "
        "`ordered: true` (the default) only webhooks sent after the ones matched by the previous ordered "
        "expectation count, so consecutive steps check an order; `count: N` needs N matches (the first N are "
        "taken), `count: 0` passes if, after `within` seconds, no webhook matches that an earlier step has not already "
        "matched (those that came before the step count too). On the virtual clock `within: N` moves "
        "time to each next due timer until the expectation is met, or N seconds have passed; on the system clock "
        "it waits up to N real seconds. On failure the report lists the closest webhooks and why each did not "
        "match.",
        "",
        "### Actors",
        "",
    ]
    if vendors:
        first, first_hooks = vendors[0]
        model = schema.scenario_model(first.slug, first_hooks, first.behaviour)
        rule = typing.get_args(model.model_fields["actors"].annotation)[0]
        when = rule.model_fields["when"].annotation
        out += [
            *section(rule, "ActorRule", "####")[:-1],
            "",
            "When an event of the scenario's tenant is committed, every rule whose `when` matches fires: its "
            "first action is scheduled `after` seconds on the clock, and each next action `after` seconds after "
            "the previous one ran. A failing action (e.g. an agent saying something in a conversation it is not "
            "in) is an actor error: it stops that rule's remaining actions and fails the scenario, with the rule's "
            "line and the virtual time. Rules that react to their own actions can loop: bound them with `times`.",
            "",
            *section(when, "When", "####"),
        ]
    out += [
        *section(ActionBase, "Every action", "####"),
        "## Vendors",
        "",
    ]
    for plugin, hooks in vendors:
        out += [f"### {plugin.slug} — {plugin.title}", "", "#### setup", ""]
        setup = hooks.setup_model
        out += [*field_table(setup), ""]
        nested: dict[str, type[BaseModel]] = {}
        _models_under(setup, nested)
        for sub in nested.values():
            out += section(sub, sub.__name__, "#####")
        out += ["#### actions", ""]
        for key, action in hooks.actions.items():
            out += section(action, f"`{key}` ({action.__name__})", "#####", skip=("after",))
        steps = vendor_steps(hooks, plugin.behaviour)
        if steps:
            out += ["#### step kinds", ""]
            for key, kind in steps.items():
                out += [f"- `{key}`: {kind.summary}"]
            out += [""]
        if plugin.behaviour is not None and steps.get(BEHAVIOUR) is behaviour_kind(plugin.behaviour):
            out += section(plugin.behaviour.model, f"`{BEHAVIOUR}` ({plugin.behaviour.model.__name__})", "#####")
        out += ["#### events", "", hooks.events_doc, "", "#### variables", ""]
        out += ["| variable | meaning |", "|---|---|"]
        out += [f"| `{{{{{k}}}}}` | {_cell(v)} |" for k, v in hooks.variables_doc.items()]
        out += [""]
    out += [
        "## Errors",
        "",
        "A file that does not load names `file:line: path: problem` for each problem (YAML syntax, unknown or "
        "doubled keys, an unknown step or action kind, a wrong type or range, an unknown `when.event`). A step "
        "that fails shows what it expected, what happened (for webhooks: the near misses, diffed) and the "
        "virtual time; the remaining steps are skipped. `cxemu scenario run` exits 1 when any file failed or did "
        "not load, 2 for a usage error (a missing file, a bad `--seed`).",
        "",
        "## Library",
        "",
        *_library(),
        "",
    ]
    return "\n".join(out)


def main() -> int:
    sys.stdout.write(generate(builtin_plugins()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
