"""The scenario endpoints of the control plane (`/_emulator/scenarios`), mounted by `create_app`.

| method and path | what it does |
|---|---|
| `POST /scenarios`, `GET /scenarios` | load a scenario file (its actors meet the app under test); list them |
| `GET /scenarios/{id}`, `DELETE /scenarios/{id}` | a scenario's progress and step results; unload it |
| `GET /scenarios/export?vendor=&tenant=&after=` | "Save as scenario": a tenant's hand work as a file (`export`) |

Handlers take the app's `ScenarioManager`. `API` joins the control plane's contract (`app.control_contract`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from emulator import __version__
from emulator.core.api import Api
from emulator.core.contracts import Body, Param, Reply
from emulator.core.control_models import MAX_ID, MAX_WAIT
from emulator.core.fleet_control import FANNED, FINDERS, concat
from emulator.core.plugin import tenant_noun, unknown_tenant
from emulator.core.types import AS_INT, AS_STR, JsonStr
from emulator.core.web import ErrorOut, RequestModel, error, guarded, q_float, q_int
from emulator.scenarios.errors import LoadError, ScenarioError
from emulator.scenarios.export import export_tenant
from emulator.scenarios.hooks import ScenarioHooks
from emulator.scenarios.loader import default_tenant, load_text, parse_yaml
from emulator.scenarios.service import ScenarioManager, fleet_tenant

API: Api[ScenarioManager] = Api("scenarios", __version__, "", mount="/_emulator", tags=["control"], wrap=guarded)
SCENARIO_ID = Param("scenario_id", "path", required=True, description="a scenario id from POST /scenarios")


class ScenarioIn(RequestModel):
    """A scenario file as JSON (YAML text is accepted too); the full format is in `scenarios/README.md`."""

    name: Annotated[str, Strict(), Field(min_length=1, max_length=200), AS_STR]
    description: JsonStr = ""
    vendor: Annotated[str, Strict(), Field(description="a vendor slug with scenario support"), AS_STR]
    seed: Annotated[int, Strict(), Field(ge=0), AS_INT] = 0
    tenant: (
        Annotated[str, Strict(), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$"), AS_STR] | None
    ) = None
    variables: dict[JsonStr, Any] = Field(default_factory=dict)
    setup: dict[JsonStr, Any] = Field(default_factory=dict, description="the vendor's world")
    actors: list[dict[JsonStr, Any]] = Field(default_factory=list, description="behaviour rules")
    steps: list[dict[JsonStr, Any]] = Field(default_factory=list, description="the timeline")


class ScenarioNearMissOut(BaseModel):
    delivery_id: str
    event: str
    subject: str
    status: str
    at: float
    body: Any = None
    problems: list[str] = Field(description="why it did not match")
    note: str | None


class ScenarioStepOut(BaseModel):
    index: int
    kind: str = Field(description="request, expect_webhook, advance, wait_until_idle, or a vendor kind")
    title: str
    line: int | None = Field(description="line of the step in the file")
    status: Literal["pending", "running", "passed", "failed", "skipped"]
    at: float | None = Field(description="clock time when the step ended")
    offset: float | None = Field(description="seconds since the scenario started")
    message: str | None
    expected: Any = None
    near_misses: list[ScenarioNearMissOut]


class ScenarioActorOut(BaseModel):
    index: int
    name: str | None
    event: str
    line: int | None
    fired: int


class ScenarioActorErrorOut(BaseModel):
    rule: int
    action: int
    line: int | None
    at: float
    subject: str | None
    message: str


class ScenarioOut(BaseModel):
    id: str
    name: str
    source: str
    vendor: str
    tenant: str
    seed: int
    clock: Literal["system", "virtual"]
    status: Literal["running", "passed", "failed", "error"]
    active: bool = Field(description="its actors still react to events")
    started_at: float
    now: float
    elapsed: float
    steps: list[ScenarioStepOut]
    actors: list[ScenarioActorOut]
    actor_errors: list[ScenarioActorErrorOut]
    variables: dict[str, Any]
    error: str | None
    webhooks: int
    report: str = Field(description="the human-readable step-by-step report")


class ScenariosOut(BaseModel):
    scenarios: list[ScenarioOut]


@API.op(
    "GET", "/scenarios", "listScenarios", "Scenarios loaded into this server", {200: Reply("scenarios", ScenariosOut)}
)
async def scenarios(manager: ScenarioManager, request: Request) -> Response:
    """Every scenario loaded into this server, with its progress.

    Results go out as `ScenarioResult.to_json()` dicts (the same text the CLI's `--json` prints)."""
    return JSONResponse({"scenarios": [run.result.to_json() for run in manager.runs.values()]})


@API.op(
    "POST",
    "/scenarios",
    "loadScenario",
    "Load a scenario file: set up its world and actors, run its steps in the background",
    {
        201: Reply("loaded", ScenarioOut),
        400: Reply("not a valid scenario (file:line: step: problem), or its setup failed", ErrorOut),
        404: Reply("the vendor is not served here or has no scenario support", ErrorOut),
    },
    params=[
        Param(
            "tenant",
            "query",
            {"type": "string", "pattern": "^[A-Za-z0-9._-]{0,64}$"},
            description="run it in this tenant instead of the file's",
        ),
        Param(
            "webhook_url",
            "query",
            {"type": "string", "pattern": "^(https?://.*)?$"},
            description="send its tenant's webhooks here (default: --webhook-url, else a built-in receiver)",
        ),
        Param("source", "query", description="what to call the file in reports (default `request body`)"),
    ],
    body=Body(ScenarioIn),
)
async def load_scenario(manager: ScenarioManager, request: Request) -> Response:
    """Body: a scenario file (YAML, or JSON of the same structure). Query `tenant`, `webhook_url` override
    the file's tenant and the target of its webhooks. Sets up its world and actors, then runs its steps in
    the background; 201 with its id."""
    tenant = request.query_params.get("tenant") or None
    if tenant is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", tenant):
        raise ValueError("tenant: letters, digits, `.`, `_` and `-` only (at most 64)")
    hook = request.query_params.get("webhook_url") or None
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ValueError("webhook_url: must be an http:// or https:// URL")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body must be UTF-8 text (YAML or JSON)") from None
    if not text.strip():
        raise ValueError("the body must be a scenario file (YAML or JSON)")
    source = request.query_params.get("source") or "request body"
    try:
        # parsed in a worker thread: a big file (YAML is parsed in Python) never holds the event loop
        loaded = await asyncio.to_thread(load_text, text, source, manager.emu.plugins)
    except LoadError as exc:
        status = 404 if exc.problems and exc.problems[0].code == "unknown_vendor" else 400
        return error(status, exc.problems[0].code if exc.problems else "invalid_scenario", str(exc))
    try:
        run = await manager.start(loaded, request.app, tenant=tenant, webhook_url=hook)
    except ScenarioError as exc:
        return error(400, "invalid_scenario", str(exc))
    return JSONResponse(run.result.to_json(), status_code=201)


@API.op(
    "GET",
    "/scenarios/export",
    "exportScenario",
    "Save as scenario: what was done in a vendor tenant, as a scenario file `cxemu scenario run` replays",
    {
        200: Reply(
            "the scenario file",
            media_type="application/yaml",
            schema={"type": "string"},
            headers={"Content-Disposition": {"schema": {"type": "string"}, "description": "attachment; filename"}},
        ),
        400: Reply("bad query", ErrorOut),
        404: Reply("unknown tenant, or a vendor not served here or without scenario support", ErrorOut),
    },
    params=[
        Param("vendor", "query", {"type": "string", "minLength": 1}, required=True, description="the vendor slug"),
        Param("tenant", "query", {"type": "string", "minLength": 1}, required=True, description="the tenant"),
        Param(
            "after",
            "query",
            {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            description="start after this journal id (default: everything the journal keeps, since the last reset)",
        ),
    ],
)
async def export_scenario(manager: ScenarioManager, request: Request) -> Response:
    """The tenant's vendor requests and hand actions (with the waits between them) as steps, then the webhooks
    they produced as expectations: see `scenarios.export`."""
    vendor = request.query_params.get("vendor", "")
    tenant = request.query_params.get("tenant", "")
    if not vendor or not tenant:
        raise ValueError("vendor and tenant are required")
    after = q_int(request, "after", None, 0, MAX_ID)
    emu = manager.emu
    plugin = emu.plugins.get(vendor)
    hooks = getattr(plugin, "scenario", None)
    if plugin is None or not isinstance(hooks, ScenarioHooks):
        return error(404, "unknown_vendor", f"no vendor {vendor!r} with scenario support is served here")
    if not emu.knows(vendor, tenant):
        return unknown_tenant(tenant_noun(plugin), tenant)
    text = export_tenant(emu, hooks, vendor, tenant, after)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{vendor}-{tenant}") + ".yaml"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text, media_type="application/yaml", headers=headers)


@API.op(
    "GET",
    "/scenarios/{scenario_id}",
    "getScenario",
    "A scenario's progress and per-step results (long-poll with `wait`)",
    {200: Reply("scenario", ScenarioOut), 400: Reply("bad input", ErrorOut), 404: Reply("not found", ErrorOut)},
    params=[
        SCENARIO_ID,
        Param(
            "wait",
            "query",
            {"type": "number", "minimum": 0, "maximum": MAX_WAIT},
            description="seconds to wait for its steps to finish",
        ),
    ],
)
async def scenario(manager: ScenarioManager, request: Request) -> Response:
    """One scenario's progress: status, each step's result (with near misses), actor firings and errors.
    Query `wait` (seconds, max 60) long-polls until its steps have finished."""
    wait = q_float(request, "wait", 0.0, 0.0, MAX_WAIT)
    run = manager.get(request.path_params["scenario_id"])
    if run is None:
        return error(404, "unknown_scenario", f"no scenario {request.path_params['scenario_id']!r}")
    if wait > 0:
        await run.wait(wait)
    return JSONResponse(run.result.to_json())


@API.op(
    "DELETE",
    "/scenarios/{scenario_id}",
    "unloadScenario",
    "Unload a scenario (its actors stop)",
    {200: Reply("unloaded", ScenarioOut), 404: Reply("not found", ErrorOut)},
    params=[SCENARIO_ID],
)
async def unload_scenario(manager: ScenarioManager, request: Request) -> Response:
    """Unload a scenario: its actors stop and its pending actions are cancelled (its tenant stays)."""
    run = await manager.unload(request.path_params["scenario_id"])
    if run is None:
        return error(404, "unknown_scenario", f"no scenario {request.path_params['scenario_id']!r}")
    return JSONResponse(run.result.to_json())


# -- in a fleet ---------------------------------------------------------------------------------------------------

TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _file_tenant(body: bytes) -> str | None:
    """The tenant a scenario file runs in (its `tenant`, else one made from its `name`); None when the file does
    not say (it is then loaded where it lands, and refused there with the loader's own words if it is bad)."""
    try:
        data, _ = parse_yaml(body.decode("utf-8"), "request body")
    except (LoadError, UnicodeDecodeError, ValueError):  # the loader reports it, where the request is served
        return None
    if not isinstance(data, dict):
        return None
    tenant, name = data.get("tenant"), data.get("name")
    if isinstance(tenant, str) and TENANT_NAME.fullmatch(tenant):
        return tenant
    if tenant is None and isinstance(name, str) and name:
        return default_tenant(name)
    return None


async def scenario_tenant(scope: Scope, body: bytes) -> str | None:
    """In a fleet, which tenant a scenario request is about (`?tenant=` is found before this): a loaded file's
    tenant, or the one a run's id carries; the request is served by that tenant's owner."""
    path: str = scope["path"]
    if path == "/_emulator/scenarios" and scope["method"] == "POST":
        return await asyncio.to_thread(_file_tenant, body) if len(body) > 65536 else _file_tenant(body)
    if path.startswith("/_emulator/scenarios/"):
        return fleet_tenant(path.rpartition("/")[2])
    return None


FINDERS.append(scenario_tenant)
FANNED[("GET", "/_emulator/scenarios")] = concat("scenarios", key=lambda r: (r.get("started_at", 0), r.get("id", "")))
