"""The example receivers (`examples/receivers/`) scored by the battery: each correct one fails no check, each
broken one fails exactly the checks its `EXPECTED_FAILURES` declares. Skipped where the examples are absent."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.verify.client import score
from tests.support.procs import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "receivers"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*_good.py")) + sorted(p.stem for p in EXAMPLES.glob("*_broken.py"))

if not NAMES:
    pytest.skip("no example receivers in this tree (examples/receivers/)", allow_module_level=True)

from tests.examples.conftest import Receiver  # noqa: E402  (only where the examples are)
from tests.examples.test_receivers import a_chatwoot_conversation  # noqa: E402


def expected_failures(name: str) -> set[str]:
    """The example's `EXPECTED_FAILURES` (read from its source: the examples are scripts, not a package)."""
    tree = ast.parse((EXAMPLES / f"{name}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = [t.id for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)]
        if "EXPECTED_FAILURES" in targets and node.value is not None:  # type: ignore[attr-defined]
            return set(ast.literal_eval(node.value))  # type: ignore[attr-defined]
    return set()


@pytest.fixture
def receiver(request: pytest.FixtureRequest, signed_server: ServerProcess, tmp_path: Path) -> Iterator[Receiver]:
    name: str = request.param
    started = Receiver(name, signed_server.url, f"ex-{name}", log=tmp_path / f"{name}.log")
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.parametrize("receiver", NAMES, ids=NAMES, indirect=True)
def test_each_example_scores_as_it_declares(receiver: Receiver, signed_server: ServerProcess) -> None:
    name = Path(receiver.proc.args[1]).stem  # type: ignore[index]
    vendor = name.rsplit("_", 1)[0]
    tenant = f"ex-{name}"
    if vendor == "sangoma":
        a_chatwoot_conversation(signed_server, tenant, receiver.url)  # an account webhook points at the receiver
    card = score(f"{receiver.url}/webhook", vendor, server=signed_server.url, tenant=tenant,
                 probe=f"{receiver.url}/count", settle=0.5)  # fmt: skip
    assert card.failed == expected_failures(name), card.model_dump_json(indent=1)
    assert card.oracle != "status", "every example counts its side effects (the probe), most also call back"
    print(f"{name}: oracle {card.oracle}, {card.summary.model_dump(by_alias=True)}")
