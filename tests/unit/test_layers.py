"""The import layers of `emulator/`, read from the source with `ast` (so the check runs in `make test`).

The layers, bottom up: `emulator.core` (the kernel), `emulator.scenarios`, the vendor packages
(`emulator.vendors.<slug>`), the dashboard (`emulator.ui`), then `emulator.app`, `emulator.cli` and
`emulator.pytest_plugin` on top.

- core imports nothing above it: no `emulator.scenarios`, `emulator.vendors`, `emulator.app`, `emulator.cli`
  or `emulator.pytest_plugin`;
- scenarios import no `emulator.vendors` and no `emulator.app`, except a module named `standalone.py` (the
  self-contained runner behind `cxemu scenario run`, which builds a whole app);
- a vendor package imports no other vendor package (nor the `emulator.vendors` registry, which imports
  them all), and no `emulator.ui`, `emulator.app` or `emulator.cli`; core and scenarios import no `emulator.ui`;
- the dashboard imports no `emulator.app`, `emulator.cli` or `emulator.pytest_plugin`;
- no function-local `import emulator...` anywhere (the habit that hides a cycle), except the entry points
  listed in `LOCAL_IMPORTS_ALLOWED`.

Every import counts: module level, inside functions, and under `if TYPE_CHECKING:`. A violation is reported
as `path:line: rule: imports <module>`.

`KNOWN_VIOLATIONS` lists the violations in the tree when this check was written (the scenario endpoints
in `core/control.py` and the app-building helpers in `scenarios/runner.py`; issue 12 moves both). The check
is strict both ways: a new violation fails, and so does a listed one that has gone, so the list is emptied
by the change that fixes it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CORE_FORBIDDEN = (
    "emulator.scenarios",
    "emulator.vendors",
    "emulator.ui",
    "emulator.app",
    "emulator.cli",
    "emulator.pytest_plugin",
)
SCENARIOS_FORBIDDEN = ("emulator.vendors", "emulator.ui", "emulator.app")
VENDOR_FORBIDDEN = ("emulator.ui", "emulator.app", "emulator.cli")
UI_FORBIDDEN = ("emulator.app", "emulator.cli", "emulator.pytest_plugin")

LOCAL_IMPORTS_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        # (path, imported module or package): entry points that import late on purpose.
        # `cxemu` subcommands import what only they need (the scenario engine, the contract builder)
        ("emulator/cli.py", "emulator.app"),
        ("emulator/cli.py", "emulator.core.control"),
        ("emulator/cli.py", "emulator.scenarios"),
        ("emulator/cli.py", "emulator.core"),
        # the pytest plugin is imported by every pytest run where cxemu is installed: the app, the settings
        # (in core) and the scenario runner load only when a fixture or a scenario file needs them
        ("emulator/pytest_plugin.py", "emulator.app"),
        ("emulator/pytest_plugin.py", "emulator.scenarios"),
        ("emulator/pytest_plugin.py", "emulator.core"),
        # the Redis backend imports redis-py, an optional extra: loaded only when `--state redis://` asks for it
        ("emulator/core/store.py", "emulator.core.redisstore"),
        ("emulator/core/runtime.py", "emulator.core.redisruntime"),
        # and the fleet of workers on it (`core.fleet`), made by the kernel only with such a store
        ("emulator/core/runtime.py", "emulator.core.fleet"),
        ("emulator/core/runtime.py", "emulator.core.fleetfeed"),  # its feed mirror (hiredis's lean client)
    }
)

# (path, rule, imported module): what the tree held when the check was written; see the module docstring.
# Take an entry off when the change that fixes it is merged (the test says which ones have gone).
KNOWN_VIOLATIONS: frozenset[tuple[str, str, str]] = frozenset()


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    rule: str
    imported: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path, self.rule, self.imported)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: imports {self.imported}"


Rule = tuple[str, Callable[[str], bool]]


def _under(*prefixes: str) -> Callable[[str], bool]:
    return lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, list[str], bool]]:
    """(line, the names an import statement may bind to modules, whether it is inside a function)."""

    def visit(node: ast.AST, local: bool) -> Iterator[tuple[int, list[str], bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child.lineno, [alias.name], local
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, module, is_package)
                yield child.lineno, [base, *(f"{base}.{a.name}" for a in child.names if a.name != "*")], local
            yield from visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    return visit(tree, False)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _rules(root: Path, rel: Path) -> list[Rule]:
    """(rule name, which imported names break it) for the file at `rel` (relative to the tree root)."""
    layer = rel.parts[1]
    if layer == "core":
        return [("core imports a higher layer", _under(*CORE_FORBIDDEN))]
    if layer == "scenarios" and rel.name != "standalone.py":
        return [("scenarios import the app or a vendor", _under(*SCENARIOS_FORBIDDEN))]
    if layer == "vendors" and len(rel.parts) > 3:
        own = rel.parts[2]
        others = _under(*(f"emulator.vendors.{p.name}" for p in (root / "emulator/vendors").iterdir() if p.name != own))
        return [
            ("a vendor imports the app or the cli", _under(*VENDOR_FORBIDDEN)),
            ("a vendor imports another vendor", lambda name: name == "emulator.vendors" or others(name)),
        ]
    if layer == "ui":
        return [("the dashboard imports the app or the cli", _under(*UI_FORBIDDEN))]
    return []


def _allowed_late(path: str, module: str) -> bool:
    return any(p == path and _under(allowed)(module) for p, allowed in LOCAL_IMPORTS_ALLOWED)


def violations(root: Path) -> list[Violation]:
    """Every layer violation in `root/emulator`, sorted by file and line."""
    found: set[Violation] = set()
    for file in sorted((root / "emulator").rglob("*.py")):
        rel = file.relative_to(root)
        is_package = file.name == "__init__.py"
        module = ".".join(rel.with_suffix("").parts[:-1] if is_package else rel.with_suffix("").parts)
        rules = _rules(root, rel)
        path = rel.as_posix()
        for line, names, local in _imports(ast.parse(file.read_text(), path), module, is_package):
            for rule, breaks in rules:
                hit = next((n for n in names if breaks(n)), None)
                if hit is not None:
                    found.add(Violation(path, line, rule, hit))
            if local and _under("emulator")(names[-1]) and not _allowed_late(path, names[0]):
                found.add(Violation(path, line, "function-local import", names[0]))
    return sorted(found)


# -- the check on the real tree ----------------------------------------------------------------------------


def test_the_emulator_package_keeps_its_layers() -> None:
    found = violations(ROOT)
    new = [str(v) for v in found if v.key not in KNOWN_VIOLATIONS]
    gone = sorted(KNOWN_VIOLATIONS - {v.key for v in found})
    assert not new, "layer violations:\n" + "\n".join(new)
    assert not gone, "fixed, so take them off KNOWN_VIOLATIONS:\n" + "\n".join(map(str, gone))


# -- the check itself, on synthetic trees ------------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


CLEAN = {
    "emulator/__init__.py": "",
    "emulator/app.py": "from emulator.core import clock\nfrom emulator.vendors import a, b\n",
    "emulator/core/__init__.py": "",
    "emulator/core/clock.py": "import asyncio\nfrom . import ids\n",
    "emulator/core/ids.py": "",
    "emulator/scenarios/__init__.py": "",
    "emulator/scenarios/runner.py": "from emulator.core import clock\n",
    "emulator/scenarios/standalone.py": "from emulator.app import create_app\n",
    "emulator/vendors/__init__.py": "from emulator.vendors import a, b\n",
    "emulator/vendors/a/__init__.py": "from emulator.vendors.a import routes\nfrom .routes import x\n",
    "emulator/vendors/a/routes.py": "from emulator.core.clock import Clock\nfrom emulator.scenarios import runner\n",
    "emulator/vendors/b/__init__.py": "from ..b import state\n",
    "emulator/vendors/b/state.py": "",
}


def test_a_tree_that_keeps_its_layers_has_no_violations(tmp_path: Path) -> None:
    assert violations(write(tmp_path, CLEAN)) == []


def test_every_kind_of_violation_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = {
        "emulator/core/clock.py": "import asyncio\n\n\ndef f():\n    from emulator.scenarios.runner import run\n",
        "emulator/core/ids.py": (
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from emulator.app import App\n"
            "from emulator import cli\nimport emulator.pytest_plugin\n"
        ),
        "emulator/scenarios/runner.py": "from emulator.core import clock\nfrom emulator.vendors.a.routes import x\n",
        "emulator/scenarios/service.py": "async def f():\n    from emulator.app import create_app\n",
        "emulator/vendors/a/routes.py": "from emulator.vendors.b.state import S\nfrom ...vendors import b\n",
        "emulator/vendors/b/state.py": "import emulator.vendors\nfrom emulator.cli import main\n",
        "emulator/settings.py": "def load():\n    import emulator.core.clock\n    return lambda: __import__('x')\n",
    }
    report = [str(v) for v in violations(write(tmp_path, CLEAN | bad))]
    assert report == [
        "emulator/core/clock.py:5: core imports a higher layer: imports emulator.scenarios.runner",
        "emulator/core/clock.py:5: function-local import: imports emulator.scenarios.runner",
        "emulator/core/ids.py:4: core imports a higher layer: imports emulator.app",
        "emulator/core/ids.py:5: core imports a higher layer: imports emulator.cli",
        "emulator/core/ids.py:6: core imports a higher layer: imports emulator.pytest_plugin",
        "emulator/scenarios/runner.py:2: scenarios import the app or a vendor: imports emulator.vendors.a.routes",
        "emulator/scenarios/service.py:2: function-local import: imports emulator.app",
        "emulator/scenarios/service.py:2: scenarios import the app or a vendor: imports emulator.app",
        "emulator/settings.py:2: function-local import: imports emulator.core.clock",
        "emulator/vendors/a/routes.py:1: a vendor imports another vendor: imports emulator.vendors.b.state",
        "emulator/vendors/a/routes.py:2: a vendor imports another vendor: imports emulator.vendors",
        "emulator/vendors/b/state.py:1: a vendor imports another vendor: imports emulator.vendors",
        "emulator/vendors/b/state.py:2: a vendor imports the app or the cli: imports emulator.cli",
    ]


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("emulator/core/clock.py", "from emulator.core import ids\n\n\ndef f():\n    from emulator.vendors import a\n"),
        (
            "emulator/core/ids.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import emulator.scenarios\n",
        ),
    ],
    ids=["function-local", "type-checking"],
)
def test_imports_hidden_in_functions_or_type_checking_blocks_still_count(tmp_path: Path, rel: str, text: str) -> None:
    found = violations(write(tmp_path, CLEAN | {rel: text}))
    assert [v.rule for v in found if v.rule == "core imports a higher layer"] == ["core imports a higher layer"]
