"""cxemu against 8x8's own real-time metrics OpenAPI file (`../shared/reference/8x8-cc-realtime-metrics.oas.json`,
"RT-OAS"): schemathesis generates requests from 8x8's file, sends them with a live bearer token, and checks that
nothing is a 5xx and that statuses, content types and bodies conform to the file. Skips cleanly without
`../shared`.

Where 8x8's file contradicts itself, `DEVIATIONS` says how this test reads it instead, and why.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth

from emulator.app import create_app
from emulator.vendors import eightbyeight
from tests.conftest import SHARED, make_settings

OAS_FILE = "reference/8x8-cc-realtime-metrics.oas.json"
CLIENT = "rt-client"
QUEUES = [
    {"id": "100", "name": "Support", "agents": [{"id": "ag-1", "name": "Ada One"}]},
    {"id": "101", "name": "Sales", "agents": [{"id": "ag-2", "name": "Bo Two"}]},
]
REAL_IDS = {"id": "100", "queueId": "100", "groupId": "101", "agentId": "ag-2"}
# groupId 101's agent is ag-2 (an agent's group is its first queue), so a real queueId 100 with agentId ag-2 is a
# real 404 (not in that queue) and a real groupId with it a 200: both branches get exercised.


@dataclass(frozen=True)
class Deviation:
    """How this test reads one place of 8x8's file, and why."""

    where: str
    change: Callable[[dict[str, Any]], None]
    reason: str


def _ops(oas: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in oas["paths"].values() for op in item.values()]


def _array_of(path: str, item: str) -> Callable[[dict[str, Any]], None]:
    def change(oas: dict[str, Any]) -> None:
        content = oas["paths"][path]["get"]["responses"]["200"]["content"]
        content["application/json"]["schema"] = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}

    return change


def _group_errors(oas: dict[str, Any]) -> None:
    for path, item in oas["paths"].items():
        if path.startswith("/groups"):
            for code, text in (("400", "Bad request"), ("401", "Unauthorized"), ("404", "Not found")):
                item["get"]["responses"].setdefault(code, {"description": text})


def _metric_names(oas: dict[str, Any]) -> None:
    for op in _ops(oas):
        for param in op.get("parameters", []):
            names = param.get("example") or param["schema"].get("example")
            if param["name"] == "metrics" and names:
                param["schema"] = {"type": "array", "items": {"type": "string", "enum": names}}


def _paging(oas: dict[str, Any]) -> None:
    for op in _ops(oas):
        for param in op.get("parameters", []):
            if param["name"] == "page":
                param["schema"].update(minimum=0, maximum=2**31 - 1)
            elif param["name"] == "size":
                param["schema"].update(minimum=1, maximum=1000)


DEVIATIONS = (
    *(
        Deviation(
            f"{path} 200",
            _array_of(path, item),
            "declared as one object (SingleQueueResponse/SingleGroupResponse) though the operation returns a list "
            "(its description; the file's own MultiQueueResponse/MultiAgentResponse are arrays): read as an array",
        )
        for path, item in (
            ("/queues", "SingleQueueResponse"),
            ("/queues/{queueId}/agents", "SingleAgentResponse"),
            ("/groups", "SingleGroupResponse"),
            ("/groups/{groupId}/agents", "SingleAgentResponse"),
        )
    ),
    Deviation(
        "/groups* responses",
        _group_errors,
        "the group operations document only 200, the queue and agent ones 400/401/403/404/405 for the same "
        "kinds of error: read the groups' as documenting 400, 401 and 404 too",
    ),
    Deviation(
        "metrics parameters",
        _metric_names,
        "declared as free strings, with the metric names as the example; any other name is a bad request: read "
        "the example as the allowed values",
    ),
    Deviation(
        "page/size parameters",
        _paging,
        "the queue and agent operations leave page and size unbounded where the group ones say page >= 0 and "
        "1 <= size <= 1000: read the groups' bounds everywhere",
    ),
)


def _load(path: Path) -> dict[str, Any]:
    oas: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    read = copy.deepcopy(oas)
    for deviation in DEVIATIONS:
        deviation.change(read)
    assert read != oas
    return read


SETTINGS = {"eightbyeight": {"tenants": {CLIENT: {"api_keys": [CLIENT], "queues": QUEUES}}}}
app = create_app(
    make_settings(vendors=SETTINGS, webhook_allow_hosts=("webhooks.invalid",)), plugins=[eightbyeight.PLUGIN]
)
OAS_PATH = SHARED / OAS_FILE
if not OAS_PATH.is_file():
    pytest.skip(f"{OAS_PATH} is not present", allow_module_level=True)
schema = schemathesis.openapi.from_dict(_load(OAS_PATH))
schema.app = app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxemu.test")


async def _prepare() -> str:
    basic = base64.b64encode(f"{CLIENT}:secret".encode()).decode()
    async with _client() as http:
        resp = await http.post(
            "/oauth/v2/token", data={"grant_type": "client_credentials"}, headers={"authorization": f"Basic {basic}"}
        )
        assert resp.status_code == 200, resp.text
        created = await http.post(
            "/chat-gateway/v1/conversations",
            json={"channelId": "1", "user": {"name": "Ada"}},
            headers={"x-api-key": CLIENT},
        )
        assert created.status_code == 202, created.text
        advanced = await http.post("/_emulator/clock/advance", json={"seconds": 1})
        assert advanced.status_code == 200, advanced.text
    return str(resp.json()["access_token"])


@pytest.fixture(scope="module")
def bearer() -> str:
    """A live token of the tenant, and one conversation waiting so that the metrics are not all zero."""
    return asyncio.run(_prepare())


def _most(value: Any) -> bool:
    return zlib.crc32(repr(value).encode()) % 4 != 0


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_cxemu_conforms_to_8x8s_realtime_metrics_file(case: schemathesis.Case, bearer: str) -> None:
    path: dict[str, Any] = case.path_parameters or {}
    for name, real in REAL_IDS.items():
        if name in path and _most(path[name]):
            path[name] = real
    if case.query and "timezone" in case.query:  # any IANA zone; the file cannot list them
        case.query["timezone"] = "Europe/Helsinki"
    # Schema-valid cases carry the token; schema-violating ones (which may be "no Authorization") go as generated,
    # so a 401 answers those. ignored_auth replays a case without its auth, but given here the token would go with
    # every replay; the missing, unknown and expired token answers are tested in tests/vendors/eightbyeight.
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    auth = {"authorization": f"Bearer {bearer}"} if positive else None
    case.call_and_validate(headers=auth, excluded_checks=[ignored_auth])


def test_the_deviations_still_apply(shared_dir: Path) -> None:
    """Each deviation changes what 8x8's file says (a changed file shows here first)."""
    oas = json.loads((shared_dir / OAS_FILE).read_text(encoding="utf-8"))
    for deviation in DEVIATIONS:
        before = copy.deepcopy(oas)
        deviation.change(before)
        assert before != oas, f"{deviation.where}: 8x8's file no longer needs this deviation"


def test_every_operation_of_8x8s_file_is_served(shared_dir: Path, bearer: str) -> None:
    oas = json.loads((shared_dir / OAS_FILE).read_text(encoding="utf-8"))
    served = {(m.upper(), p) for p, item in eightbyeight.contract.contract()["paths"].items() for m in item}
    prefix = "/analytics/cc/v5/realtime-metrics"
    named = {"/queues/{id}": "/queues/{queueId}", "/groups/{id}": "/groups/{groupId}"}
    for path, item in oas["paths"].items():
        for method in item:
            assert (method.upper(), prefix + named.get(path, path)) in served
    bases = [server["url"].removeprefix("https://api.8x8.com") for server in oas["servers"]]
    assert asyncio.run(_statuses(bases, bearer)) == [200] * len(bases)


async def _statuses(bases: list[str], bearer: str) -> list[int]:
    async with _client() as http:
        return [
            (await http.get(f"{base}/queues", headers={"authorization": f"Bearer {bearer}"})).status_code
            for base in bases
        ]
