"""Read a scenario file: YAML with a line number for every node, validated by the vendor's scenario model.

`load_text(text, source, plugins)` returns a `LoadedScenario` or raises `LoadError`, whose message names the
file, line and step at fault, e.g. `lib/greet.yaml:14: steps[3].expect_webhook.within: Input should be
greater than or equal to 0`. JSON is accepted too (it is YAML).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from emulator.core.plugin import BehaviourSpec, VendorPlugin
from emulator.core.web import not_json, parse_json
from emulator.core.yamllines import MAX_NODES, LineLoader, PathKey, TooLarge, format_path
from emulator.scenarios.errors import LoadError, Problem
from emulator.scenarios.hooks import ScenarioHooks
from emulator.scenarios.schema import ScenarioBase, scenario_model, step_kinds

MAX_PROBLEMS = 10


@dataclass
class LoadedScenario:
    """A validated scenario and where each part of it came from."""

    model: ScenarioBase
    source: str
    hooks: ScenarioHooks
    lines: dict[PathKey, int] = field(default_factory=dict)
    text: str = ""
    behaviour: BehaviourSpec | None = None
    """The vendor's behaviour model (`VendorPlugin.behaviour`): the file may use the `behaviour` step."""

    @property
    def steps(self) -> list[BaseModel]:
        return list(getattr(self.model, "steps", []))

    @property
    def actors(self) -> list[Any]:
        return list(getattr(self.model, "actors", []))

    def line(self, *path: str | int) -> int | None:
        """The line of `path` (or of its nearest ancestor that has one)."""
        key: PathKey = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[PathKey, int]]:
    loader: LineLoader | None = None
    try:
        loader = LineLoader(text)
        data = loader.load_with_lines()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        parts = (getattr(exc, "context", None), getattr(exc, "problem", None))
        problem = " ".join(str(p) for p in parts if p) or str(exc).splitlines()[0]
        try:  # not YAML, but perhaps JSON (PyYAML reads YAML 1.1: a few JSON spellings trip it)
            return parse_json(text), {}
        except ValueError:
            raise LoadError(source, [Problem(line, "", f"not valid YAML: {problem}")]) from None
    except RecursionError:
        raise LoadError(source, [Problem(None, "", "not valid YAML: nested too deeply")]) from None
    except TooLarge:
        raise LoadError(source, [Problem(None, "", f"too large: more than {MAX_NODES} values")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if loader.duplicates:
        line, path = loader.duplicates[0]
        raise LoadError(source, [Problem(line, format_path(path), "duplicate key")])
    unsafe = not_json(data)  # what a scenario sends or says must be JSON (views, webhooks)
    if unsafe is not None and "surrogate" in unsafe:
        try:
            data = _pairs_joined(data)
        except RecursionError:
            raise LoadError(source, [Problem(None, "", "not valid YAML: nested too deeply")]) from None
        unsafe = not_json(data)
    if unsafe is not None:
        raise LoadError(source, [Problem(None, "", f"not valid: {unsafe}")])
    return data, loader.lines


def _pairs_joined(data: Any) -> Any:
    """`data` with each `\\ud83d\\ude00`-style pair, which PyYAML leaves as two halves, made one character
    (as JSON reads it); a lone half stays, for `not_json` to refuse."""
    if isinstance(data, str):
        try:
            return data.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeDecodeError:
            return data
    if isinstance(data, dict):
        return {_pairs_joined(k): _pairs_joined(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_pairs_joined(v) for v in data]
    return data


def _locate(data: Any, loc: tuple[str | int, ...]) -> tuple[PathKey, PathKey]:
    """Map a pydantic error location to (data path for the line, path to show), skipping union tags."""
    cur = data
    real: list[str | int] = []
    shown: list[str | int] = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            real.append(part)
            shown.append(part)
        elif isinstance(cur, dict) and part in cur:
            nxt = cur[part]
            if last or isinstance(nxt, dict | list):
                cur = nxt
                real.append(part)
                shown.append(part)
            # else: a tag naming a flat action (`agent: say`): its fields are siblings
        elif last:
            shown.append(part)  # a missing field
        # else: a union tag or member name that is not in the data
    if shown and isinstance(shown[-1], str) and len(shown) >= 2 and shown[-2] == shown[-1]:
        shown.pop()
    return tuple(real), tuple(shown)


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "literal_error" and len(msg) > 300:
        msg = msg[:297] + "..."
    if err["type"] == "extra_forbidden":
        msg = "unknown key (not allowed here)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def _precheck(
    data: dict[str, Any], hooks: ScenarioHooks, behaviour: BehaviourSpec | None, lines: dict[PathKey, int]
) -> list[Problem]:
    """Clear messages for steps and actions whose kind key is missing, unknown or doubled."""
    problems: list[Problem] = []
    kinds = step_kinds(hooks, behaviour)
    steps = data.get("steps")
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            problems.extend(_kind_problem(step, kinds, ("steps", i), "step", lines))
    actors = data.get("actors")
    if isinstance(actors, list):
        for i, rule in enumerate(actors):
            do = rule.get("do") if isinstance(rule, dict) else None
            if isinstance(do, list):
                for j, action in enumerate(do):
                    path: PathKey = ("actors", i, "do", j)
                    problems.extend(_kind_problem(action, dict(hooks.actions), path, "action", lines))
    return problems


def _kind_problem(
    value: Any, kinds: Mapping[str, Any], path: PathKey, what: str, lines: dict[PathKey, int]
) -> list[Problem]:
    line = lines.get(path)
    expected = ", ".join(kinds)
    if not isinstance(value, dict):
        return [Problem(line, format_path(path), f"a {what} is a mapping with one of: {expected}")]
    hits = [k for k in value if k in kinds]
    if len(hits) == 1:
        return []
    if not hits:
        unknown = next(iter(value), None)
        name = f"unknown {what} kind {unknown!r}" if unknown is not None else f"an empty {what}"
        return [Problem(line, format_path(path), f"{name}; expected one of: {expected}")]
    return [Problem(line, format_path(path), f"a {what} has one kind, got {' and '.join(hits)}")]


def load_data(
    data: Any, source: str, plugins: Mapping[str, VendorPlugin], lines: dict[PathKey, int] | None = None, text: str = ""
) -> LoadedScenario:
    lines = lines or {}
    if not isinstance(data, dict):
        raise LoadError(source, [Problem(lines.get(()), "", "a scenario is a mapping (name, vendor, setup, ...)")])
    vendors = ", ".join(sorted(s for s, p in plugins.items() if _hooks(p) is not None)) or "none"
    vendor = data.get("vendor")
    if not isinstance(vendor, str):
        line = lines.get(("vendor",), 1)
        raise LoadError(source, [Problem(line, "vendor", f"required: the vendor's slug, one of: {vendors}")])
    plugin = plugins.get(vendor)
    hooks = _hooks(plugin) if plugin is not None else None
    if plugin is None or hooks is None:
        why = "unknown vendor" if plugin is None else "has no scenario support"
        problem = Problem(lines.get(("vendor",)), "vendor", f"{vendor!r} {why} (one of: {vendors})", "unknown_vendor")
        raise LoadError(source, [problem])
    problems = _precheck(data, hooks, plugin.behaviour, lines)
    if problems:
        raise LoadError(source, problems[:MAX_PROBLEMS])
    model = scenario_model(vendor, hooks, plugin.behaviour)
    try:
        scenario = model.model_validate(data)
    except ValidationError as exc:
        found: list[Problem] = []
        for err in exc.errors():
            real, shown = _locate(data, tuple(err["loc"]))
            key: PathKey = real
            while key and key not in lines:
                key = key[:-1]
            problem = Problem(lines.get(key, lines.get(())), format_path(shown), _message(err))
            if problem not in found:
                found.append(problem)
        raise LoadError(source, found[:MAX_PROBLEMS]) from None
    return LoadedScenario(
        model=scenario, source=source, hooks=hooks, lines=lines, text=text, behaviour=plugin.behaviour
    )


def _hooks(plugin: VendorPlugin | None) -> ScenarioHooks | None:
    hooks = getattr(plugin, "scenario", None)
    return hooks if isinstance(hooks, ScenarioHooks) else None


def load_text(text: str, source: str, plugins: Mapping[str, VendorPlugin]) -> LoadedScenario:
    data, lines = parse_yaml(text, source)
    return load_data(data, source, plugins, lines, text)


def load_file(path: Path, plugins: Mapping[str, VendorPlugin]) -> LoadedScenario:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError(source, [Problem(None, "", f"cannot read ({exc.strerror})")]) from None
    except UnicodeDecodeError:
        raise LoadError(source, [Problem(None, "", "not UTF-8 text")]) from None
    return load_text(text, source, plugins)


def run_tenant(loaded: LoadedScenario) -> str:
    """The tenant a scenario runs in when not told another: the file's, else one made from its name."""
    return loaded.model.tenant or default_tenant(loaded.model.name)


def default_tenant(name: str) -> str:
    """A tenant name made from a scenario's name: `Queue -> agent` -> `queue-agent`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48]
    return slug or "scenario"
