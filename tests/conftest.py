"""Shared fixtures: an in-process Emulator/app with the test-only echo vendor on a virtual clock."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.core.plugin import VendorPlugin
from emulator.core.runtime import Emulator
from emulator.core.settings import Settings
from tests.support import echo_vendor

# `make test` is a gate: its property and contract runs (hypothesis, schemathesis) draw the same examples every
# time, so a run fails only for a change in the code. `make fuzz` explores with fresh random examples.
settings.register_profile("gate", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("gate")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

EmulatorFactory = Callable[..., Awaitable[Emulator]]
AppFactory = Callable[..., Awaitable[tuple[Starlette, httpx.AsyncClient]]]


CONTRACT_BODY_LIMIT = 1 << 30
"""`max_body_bytes` of the apps the schemathesis contract tests call: generated bodies can run to megabytes, and
cxemu's own size limit (a 413 outside every vendor's contract, tested in tests/unit/test_input_limits.py) must
not stand between a generated request and the contract it is checked against."""


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"clock": "virtual", "seed": 7}
    values.update(overrides)
    return Settings.load({}, values)


@pytest.fixture(scope="session", autouse=True)
def child_bytecode() -> Iterator[None]:
    """Where the environment says `PYTHONDONTWRITEBYTECODE` (this machine's does), each Python child of the tests
    (`cxemu serve`, started hundreds of times, CLI runs, child pytest runs) would compile the whole app again from
    source: a quarter of a server's start in CPU time (1.34 -> 0.98 s). Run from a virtual environment (`make
    test`: `.venv`), they keep their bytecode in one folder inside it instead (`PYTHONPYCACHEPREFIX`), shared by the
    xdist workers and kept from run to run, gone with the environment (`make clean`); the project's tree stays
    clean and a stale entry is never used (Python checks each one against its source). Otherwise nothing changes."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or sys.prefix == sys.base_prefix:
        yield
        return
    saved = {key: os.environ.get(key) for key in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    os.environ["PYTHONPYCACHEPREFIX"] = str(Path(sys.prefix) / "test-pycache")
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
async def make_emulator() -> AsyncIterator[EmulatorFactory]:
    """Build started Emulators (echo vendor, virtual clock unless told otherwise); stopped at teardown."""
    made: list[Emulator] = []

    async def factory(**overrides: Any) -> Emulator:
        emu = Emulator(make_settings(**overrides), [echo_vendor.PLUGIN])
        await emu.start()
        made.append(emu)
        return emu

    yield factory
    for emu in made:
        await emu.stop()


@pytest.fixture
async def emu(make_emulator: EmulatorFactory) -> Emulator:
    return await make_emulator()


@pytest.fixture
async def make_app() -> AsyncIterator[AppFactory]:
    """Build in-process apps (the echo vendor unless `vendor_plugins` says) with an httpx client over ASGI;
    lifespan is run by hand, and everything is stopped at teardown."""
    made: list[tuple[Starlette, httpx.AsyncClient]] = []

    async def factory(
        *, vendor_plugins: Sequence[VendorPlugin] = (echo_vendor.PLUGIN,), **overrides: Any
    ) -> tuple[Starlette, httpx.AsyncClient]:
        app = create_app(make_settings(**overrides), plugins=list(vendor_plugins))
        await app.state.emulator.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")
        made.append((app, client))
        return app, client

    yield factory
    for app, client in made:
        await client.aclose()
        await app.state.emulator.stop()


@pytest.fixture
async def client(make_app: AppFactory) -> httpx.AsyncClient:
    _, c = await make_app()
    return c


@pytest.fixture
def shared_dir() -> Path:
    """`../shared` beside the project; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
