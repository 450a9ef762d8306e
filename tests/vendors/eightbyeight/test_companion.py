"""8x8's companion APIs (issue 15): OAuth tokens, real-time metrics computed from live state, tenant schedules
applied to the simulated agents, each with its error cases. The virtual clock starts on Thursday
2026-01-01 00:00 UTC, so an office schedule (Mon-Fri 09:00-17:00 UTC) is closed at the start."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from emulator.vendors.eightbyeight.companion import derived_secret
from tests.vendors.eightbyeight.conftest import (
    AGENT,
    API_KEY,
    SALES_AGENT,
    Ebe,
    EbeFactory,
    tenant_config,
    vendor_settings,
)

RT = "/analytics/cc/v5/realtime-metrics"
SCHEDULES = "/api/provisioning/schedules"
OFFICE = {
    "name": "Office Hours",
    "time_zone": "UTC",
    "week_days": [{"day": d, "status": 0, "start_time": "09:00", "end_time": "17:00"} for d in range(1, 6)],
    "exceptions": [{"date": "2026-01-02", "status": -1}],
}
HOUR = 3600.0


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def token(env: Ebe, user: str = API_KEY, secret: str = "s3cret") -> str:
    resp = await env.http.post(
        "/oauth/v2/token", data={"grant_type": "client_credentials"}, headers=basic(user, secret)
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


async def rt(env: Ebe, path: str, bearer: str, **params: Any) -> httpx.Response:
    return await env.http.get(f"{RT}{path}", params=params, headers={"authorization": f"Bearer {bearer}"})


def values(item: dict[str, Any]) -> dict[str, float]:
    return {m["key"]: m["value"] for m in item["metrics"]}


async def queue_metrics(env: Ebe, bearer: str, queue: str = "123") -> dict[str, float]:
    resp = await rt(env, f"/queues/{queue}", bearer)
    assert resp.status_code == 200, resp.text
    return values(resp.json())


# -- OAuth ------------------------------------------------------------------------------------------------


async def test_token_answers_8x8s_fields_and_expires_on_the_tenant_clock(ebe: Ebe) -> None:
    resp = await ebe.http.post(
        "/oauth/v2/token", data={"grant_type": "client_credentials"}, headers=basic(API_KEY, "any")
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "BearerToken"
    assert body["status"] == "approved"
    assert body["expires_in"] == "1799"
    assert body["client_id"] == API_KEY
    assert body["issued_at"] == str(ebe.now_ms())
    assert (await rt(ebe, "/queues", body["access_token"])).status_code == 200
    await ebe.advance(1799)
    expired = await rt(ebe, "/queues", body["access_token"])
    assert expired.status_code == 401
    assert expired.json() == {
        "fault": {
            "faultstring": "Access Token expired",
            "detail": {"errorcode": "keymanagement.service.access_token_expired"},
        }
    }


async def test_the_same_seed_gives_the_same_token(make_ebe: EbeFactory) -> None:
    tokens = []
    for _ in range(2):
        env = await make_ebe(vendors=vendor_settings())
        tokens.append(await token(env))
    assert tokens[0] == tokens[1]


@pytest.mark.parametrize(
    ("headers", "form", "status", "body"),
    [
        (
            {},
            {"grant_type": "client_credentials"},
            401,
            {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"},
        ),
        (
            {"authorization": "Basic !!!"},
            {"grant_type": "client_credentials"},
            401,
            {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"},
        ),
        (
            basic(API_KEY, "x"),
            {"grant_type": "password"},
            400,
            {"ErrorCode": "invalid_request", "Error": "Unsupported grant type : password"},
        ),
        (basic(API_KEY, "x"), {}, 400, {"ErrorCode": "invalid_request", "Error": "Unsupported grant type : null"}),
    ],
    ids=["no-basic", "bad-basic", "wrong-grant", "no-grant"],
)
async def test_token_errors(ebe: Ebe, headers: dict[str, str], form: dict[str, str], status: int, body: Any) -> None:
    resp = await ebe.http.post("/oauth/v2/token", data=form, headers=headers)
    assert (resp.status_code, resp.json()) == (status, body)


async def test_strict_auth_takes_only_the_tenants_secret(make_ebe: EbeFactory) -> None:
    env = await make_ebe(auth="strict", vendors=vendor_settings(tenant_config(client_secret="right")))
    wrong = await env.http.post(
        "/oauth/v2/token", data={"grant_type": "client_credentials"}, headers=basic(API_KEY, "x")
    )
    assert wrong.status_code == 401
    unknown = await env.http.post(
        "/oauth/v2/token", data={"grant_type": "client_credentials"}, headers=basic("nobody", "right")
    )
    assert unknown.status_code == 401
    assert await token(env, secret="right")


async def test_provisioned_credentials_reach_every_8x8_api(make_ebe: EbeFactory) -> None:
    env = await make_ebe(auth="strict")
    resp = await env.http.post("/_emulator/tenants", json={"vendors": ["eightbyeight"], "tenant": "beta"})
    assert resp.status_code in (200, 201), resp.text
    creds = resp.json()["credentials"]["eightbyeight"]
    assert creds["clientId"] == creds["apiKey"] == creds["scheduleUser"] == "beta"
    assert creds["clientSecret"] == derived_secret(env.emu, "beta", "client_secret")
    bearer = await token(env, "beta", creds["clientSecret"])
    assert (await rt(env, "/queues", bearer)).status_code == 200
    listed = await env.http.get(SCHEDULES, headers=basic("beta", creds["scheduleToken"]))
    assert listed.status_code == 200
    assert listed.json() == {"schedules": {"schedule": []}}
    assert (await env.http.get(SCHEDULES, headers=basic("beta", "wrong"))).status_code == 401


@pytest.mark.parametrize(
    ("authorization", "fault"),
    [
        (None, "oauth.v2.InvalidAccessToken"),
        ("Bearer nope", "keymanagement.service.invalid_access_token"),
        ("Bearer abc.bm9ib2R5", "keymanagement.service.invalid_access_token"),
        ("Basic abc", "oauth.v2.InvalidAccessToken"),
    ],
    ids=["none", "unknown", "unknown-tenant", "not-bearer"],
)
async def test_metrics_need_a_live_bearer_token(ebe: Ebe, authorization: str | None, fault: str) -> None:
    headers = {"authorization": authorization} if authorization else {}
    resp = await ebe.http.get(f"{RT}/queues", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["fault"]["detail"]["errorcode"] == fault


# -- real-time metrics from live state ----------------------------------------------------------------------


async def test_metrics_follow_a_conversation_through_queue_agent_and_end(ebe: Ebe) -> None:
    bearer = await token(ebe)
    await ebe.behaviour(join_delay=30, leave_after_idle=None)
    before = await queue_metrics(ebe, bearer)
    assert before["interactionsWaitInQueue.rt"] == 0
    assert before["availableIdle.rt"] == 1
    assert before["enabled.rt"] == 1
    assert before["entered.today"] == 0

    conv = await ebe.create({"channelId": "1", "user": {"name": "Ada"}})
    await ebe.advance(1)  # active + QUEUED
    queued = await queue_metrics(ebe, bearer)
    assert queued["interactionsWaitInQueue.rt"] == 1
    assert queued["entered.today"] == 1
    await ebe.advance(10)
    waiting = await queue_metrics(ebe, bearer)
    assert waiting["interactionsLongestWaitInQueue.rt"] == pytest.approx(10.8)
    assert waiting["accepted.today"] == 0

    await ebe.advance(20)  # the agent joins 30 s after QUEUED
    joined = await queue_metrics(ebe, bearer)
    assert joined["interactionsWaitInQueue.rt"] == 0
    assert joined["interactionsHandling.rt"] == 1
    assert joined["accepted.today"] == 1
    assert joined["acceptedPercentage.today"] == 100
    assert joined["availableIdle.rt"] == 0
    assert joined["handling.rt"] == 1
    assert joined["interactionsAvgWaitTime.today"] == 30
    assert joined["slaPercentage.today"] == 0
    agent = values((await rt(ebe, f"/queues/123/agents/{AGENT['id']}", bearer)).json())
    assert agent["status.rt"] == 5
    assert agent["accepted.today.inQueue"] == 1

    await ebe.advance(60)
    await ebe.hand(conv, "leave")
    ended = await queue_metrics(ebe, bearer)
    assert ended["interactionsHandling.rt"] == 0
    assert ended["availableIdle.rt"] == 1
    # QUEUED at 0.2 s (interaction_delay), joined at 30.2 s, left at 91 s
    assert ended["avgHandlingTime.today"] == pytest.approx(60.8)
    assert ended["abandoned.today"] == 0
    agent = values((await rt(ebe, f"/queues/123/agents/{AGENT['id']}", bearer)).json())
    assert agent["status.rt"] == 4
    assert agent["handlingTime.today"] == pytest.approx(60.8)


async def test_a_customer_leaving_the_queue_counts_as_abandoned(ebe: Ebe) -> None:
    bearer = await token(ebe)
    await ebe.behaviour(join_delay=300)
    quick = await ebe.create({"channelId": "1", "user": {"name": "Quick"}})
    slow = await ebe.create({"channelId": "1", "user": {"name": "Slow"}})
    await ebe.advance(2)
    assert (await ebe.api("PATCH", f"/conversations/{quick}/participants/user", {"removed": True})).status_code == 204
    await ebe.advance(60)
    assert (await ebe.api("PATCH", f"/conversations/{slow}/participants/user", {"removed": True})).status_code == 204
    got = await queue_metrics(ebe, bearer)
    assert got["shortAbandoned.today"] == 1
    assert got["abandoned.today"] == 1
    assert got["totalAbandoned.today"] == 2
    assert got["totalAbandonedPercentage.today"] == 100
    assert got["entered.int-15m"] == 2


async def test_interval_windows_are_clock_aligned(ebe: Ebe) -> None:
    bearer = await token(ebe)
    await ebe.create({"channelId": "1", "user": {"name": "Ada"}})
    await ebe.advance(900)  # the next 15-minute interval
    got = await queue_metrics(ebe, bearer)
    assert got["entered.int-15m"] == 0
    assert got["entered.int-30m"] == 1
    assert got["entered.today"] == 1


async def test_lists_paging_summary_filters_and_totals(ebe: Ebe) -> None:
    bearer = await token(ebe)
    everything = (await rt(ebe, "/queues", bearer, metrics=["enabled.rt", "entered.today"])).json()
    assert [q["id"] for q in everything] == ["123", "101"]
    assert everything[0]["metrics"] == [{"key": "enabled.rt", "value": 1}, {"key": "entered.today", "value": 0}]
    page = (await rt(ebe, "/queues", bearer, size=1, page=1)).json()
    assert [q["id"] for q in page] == ["101"]
    assert (await rt(ebe, "/queues", bearer, summary="true")).json() == [
        {"id": "123", "name": "Support"},
        {"id": "101", "name": "Sales"},
    ]
    filtered = (await rt(ebe, "/queues", bearer, **{"queue-ids": "101", "metrics": "enabled.rt"})).json()
    assert [q["id"] for q in filtered] == ["101"]
    totals = (await rt(ebe, "/queues", bearer, metrics="enabled.rt", includeTotals="true")).json()
    assert totals[-1] == {"id": "total", "name": "Total", "metrics": [{"key": "enabled.rt", "value": 2}]}
    agents = (await rt(ebe, "/agents", bearer, summary="true")).json()
    assert {"id": SALES_AGENT["id"], "name": SALES_AGENT["name"], "groupId": "101", "groupName": "Sales"} in agents
    groups = (await rt(ebe, "/groups", bearer, metrics="enabled.rt")).json()
    assert [values(g) for g in groups] == [{"enabled.rt": 1}, {"enabled.rt": 1}]
    in_group = (await rt(ebe, "/groups/101/agents", bearer, metrics="status.rt")).json()
    assert [(a["id"], values(a)) for a in in_group] == [(SALES_AGENT["id"], {"status.rt": 4})]
    assert (await rt(ebe, f"/groups/101/agents/{SALES_AGENT['id']}", bearer)).status_code == 200
    assert (await rt(ebe, "/groups/101", bearer)).json()["name"] == "Sales"


async def test_agents_in_queue_groups_lists_the_active_agents(ebe: Ebe) -> None:
    bearer = await token(ebe)
    await ebe.create({"channelId": "1", "user": {"name": "Ada"}})
    await ebe.advance(5)
    body = (await rt(ebe, "/agents-in-queue-groups", bearer, metrics="status.rt")).json()
    support = next(q for q in body["queues"] if q["queueId"] == "123")
    assert support["assignedAgents"] == [AGENT["id"]]
    assert support["agentMetrics"] == [{"id": AGENT["id"], "name": AGENT["name"], "metrics": {"status.rt": "Busy"}}]
    assert [a["id"] for a in body["agents"]] == [AGENT["id"]]
    shown = (await rt(ebe, "/agents-in-queue-groups", bearer, metrics="status.rt", showEnabledAgents="true")).json()
    assert {a["id"] for a in shown["agents"]} == {AGENT["id"], SALES_AGENT["id"]}


async def test_xml_by_accept_and_the_regional_prefixes(ebe: Ebe) -> None:
    bearer = await token(ebe)
    headers = {"authorization": f"Bearer {bearer}", "accept": "application/xml"}
    resp = await ebe.http.get(f"{RT}/queues/123", params={"metrics": "enabled.rt"}, headers=headers)
    assert resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == "MetricsResponse"
    assert root.findtext("id") == "123"
    assert [(m.findtext("key"), m.findtext("value")) for m in root.iter("metrics") if m.find("key") is not None] == [
        ("enabled.rt", "1")
    ]
    many = ET.fromstring((await ebe.http.get(f"{RT}/queues", headers=headers)).content)
    assert many.tag == "UnmodifiableRandomAccessList"
    assert [i.findtext("id") for i in many] == ["123", "101"]
    for region in ("/eu", "/au", "/ca"):
        regional = await ebe.http.get(f"{region}{RT}/queues/123", headers={"authorization": f"Bearer {bearer}"})
        assert regional.status_code == 200
        assert regional.json()["id"] == "123"


@pytest.mark.parametrize(
    ("path", "params", "headers", "status", "message"),
    [
        ("/queues", {"metrics": "nope.rt"}, {}, 400, "Invalid metric: nope.rt"),
        ("/groups", {"metrics": "entered.today"}, {}, 400, "Invalid metric: entered.today"),
        ("/queues", {"page": "-1"}, {}, 400, "Invalid value for page: -1"),
        ("/queues", {"size": "0"}, {}, 400, "Invalid value for size: 0"),
        ("/agents", {"size": "x"}, {}, 400, "Invalid value for size: x"),
        ("/queues", {"summary": "maybe"}, {}, 400, "Invalid boolean value for summary: maybe"),
        ("/queues", {"timezone": "Mars/Base"}, {}, 400, "Invalid timezone: Mars/Base"),
        ("/queues", {}, {"X-Tenant-Info": "other"}, 400, "Bad request: Invalid value for X-Tenant-Info header."),
        ("/queues/999", {}, {}, 404, "Queue 999 not found"),
        ("/queues/123/agents/ag-sam", {}, {}, 404, "Agent ag-sam not found in queue 123"),
        ("/groups/999/agents", {}, {}, 404, "Group 999 not found"),
        ("/nothing-here", {}, {}, 404, "Resource not found"),
    ],
    ids=[
        "unknown-metric",
        "queue-metric-on-groups",
        "negative-page",
        "zero-size",
        "size-not-a-number",
        "bad-boolean",
        "bad-timezone",
        "other-tenant",
        "unknown-queue",
        "agent-not-in-queue",
        "unknown-group",
        "unknown-path",
    ],
)
async def test_metrics_errors(
    ebe: Ebe, path: str, params: dict[str, str], headers: dict[str, str], status: int, message: str
) -> None:
    bearer = await token(ebe)
    resp = await ebe.http.get(f"{RT}{path}", params=params, headers={"authorization": f"Bearer {bearer}", **headers})
    assert resp.status_code == status
    body = resp.json()
    assert (body["status"], body["message"], body["path"]) == (status, message, f"{RT}{path}")
    assert body["timestamp"] == "2026-01-01T00:00:00.000Z"


async def test_the_right_tenant_info_is_accepted(ebe: Ebe) -> None:
    bearer = await token(ebe)
    headers = {"authorization": f"Bearer {bearer}", "X-Tenant-Info": "acme-tid"}
    assert (await ebe.http.get(f"{RT}/queues", headers=headers)).status_code == 200


# -- tenant schedules -----------------------------------------------------------------------------------------


def office_tenant(out_of_hours: str = "queue", **queue: Any) -> dict[str, Any]:
    cfg = tenant_config(schedules=[OFFICE])
    cfg["queues"][0].update({"schedule": "Office Hours", "out_of_hours": out_of_hours, **queue})
    return cfg


async def schedule_env(make_ebe: EbeFactory, out_of_hours: str = "queue", **queue: Any) -> Ebe:
    env = await make_ebe(vendors=vendor_settings(office_tenant(out_of_hours, **queue)))
    assert (await env.api("GET", "/webhooks")).status_code == 200
    return env


async def status_of(env: Ebe, name: str = "Office%20Hours") -> int:
    resp = await env.http.get(f"{SCHEDULES}/{name}/status", headers=basic(API_KEY, "t"))
    assert resp.status_code == 200, resp.text
    return int(resp.json()["schedule-status"]["status"])


async def test_schedule_json_and_xml_forms(make_ebe: EbeFactory) -> None:
    env = await schedule_env(make_ebe)
    listed = (await env.http.get(SCHEDULES, headers=basic(API_KEY, "t"))).json()
    (one,) = listed["schedules"]["schedule"]
    assert (one["id"], one["name"], one["time-zone"]) == (1, "Office Hours", "UTC")
    assert one["week-days"]["week-day"][0] == {
        "day": 1,
        "properties": {"status": 0, "start-time": "09:00", "end-time": "17:00"},
    }
    assert one["exceptions"]["exception"] == [
        {"date": "2026-01-02", "properties": {"status": -1, "start-time": "09:00", "end-time": "17:00"}}
    ]
    by_id = await env.http.get(f"{SCHEDULES}/1", headers=basic(API_KEY, "t"))
    assert by_id.json() == {"schedule": one}
    xml_headers = {**basic(API_KEY, "t"), "accept": "application/xml"}
    root = ET.fromstring((await env.http.get(SCHEDULES, headers=xml_headers)).content)
    assert root.tag == "schedules"
    schedule = root.find("schedule")
    assert schedule is not None
    assert schedule.findtext("time-zone") == "UTC"
    days = schedule.findall("week-days/week-day")
    assert next(
        (d.findtext("day"), d.findtext("properties/status"), d.findtext("properties/start-time")) for d in days
    ) == ("1", "0", "09:00")
    assert schedule.findtext("exceptions/exception/date") == "2026-01-02"
    suffixed = await env.http.get(f"{SCHEDULES}/Office%20Hours/status.xml", headers=basic(API_KEY, "t"))
    assert suffixed.headers["content-type"].startswith("application/xml")
    assert ET.fromstring(suffixed.content).findtext("status") == "-1"
    as_json = await env.http.get(f"{SCHEDULES}/Office%20Hours/status.json", headers=xml_headers)
    assert as_json.json() == {"schedule-status": {"status": -1}}


async def test_schedule_errors(make_ebe: EbeFactory) -> None:
    env = await schedule_env(make_ebe)
    missing = await env.http.get(SCHEDULES)
    assert missing.status_code == 401
    assert missing.json() == {"error": {"code": 401, "message": "Unauthorized"}}
    assert missing.headers["www-authenticate"].startswith("Basic")
    blank = await env.http.get(SCHEDULES, headers=basic(API_KEY, ""))
    assert blank.status_code == 401
    unknown = await env.http.get(f"{SCHEDULES}/Nope", headers=basic(API_KEY, "t"))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": 404, "message": "Schedule Nope not found"}}
    as_xml = await env.http.get(f"{SCHEDULES}/Nope", headers={**basic(API_KEY, "t"), "accept": "application/xml"})
    assert ET.fromstring(as_xml.content).findtext("message") == "Schedule Nope not found"


async def test_crossing_opening_and_closing_time(make_ebe: EbeFactory) -> None:
    env = await schedule_env(make_ebe)
    assert await status_of(env) == -1  # Thursday 00:00
    conv = await env.create({"channelId": "1", "user": {"name": "Night Owl"}})
    await env.advance(8 * HOUR)
    bearer = await token(env)  # a token lives 1799 s
    closed = await queue_metrics(env, bearer)
    assert closed["interactionsWaitInQueue.rt"] == 1
    assert closed["workingOffline.rt"] == 1
    assert closed["availableIdle.rt"] == 0
    assert env.state.conversations[conv].agent_id is None
    agent = values((await rt(env, f"/queues/123/agents/{AGENT['id']}", bearer)).json())
    assert agent["status.rt"] == 7

    await env.advance(HOUR - 1)  # 08:59:59
    assert env.state.conversations[conv].agent_id is None
    await env.advance(4)  # 09:00 opening + join_delay 3
    assert await status_of(env) == 0
    assert env.state.conversations[conv].agent_id == AGENT["id"]
    opened = await queue_metrics(env, await token(env))
    assert opened["workingOffline.rt"] == 0
    assert opened["interactionsWaitInQueue.rt"] == 0

    await env.advance(8 * HOUR)  # past 17:00
    assert await status_of(env) == -1
    late = await env.create({"channelId": "1", "user": {"name": "Late"}})
    await env.advance(60)
    assert env.state.conversations[late].agent_id is None
    await env.advance(24 * HOUR)  # Friday 2026-01-02 is an exception: closed all day
    assert env.state.conversations[late].agent_id is None
    await env.advance(2 * 24 * HOUR)  # Monday 2026-01-05 17:01: closed
    assert env.state.conversations[late].agent_id is None
    await env.advance(16 * HOUR)  # Tuesday 09:01
    assert env.state.conversations[late].agent_id == AGENT["id"]


async def test_out_of_hours_reject_ends_the_interaction(make_ebe: EbeFactory) -> None:
    env = await schedule_env(make_ebe, "reject")
    conv = await env.create({"channelId": "1", "user": {"name": "Night Owl"}})
    await env.advance(1)
    got = env.state.conversations[conv]
    assert got.state == "idle"
    assert got.agent_id is None
    assert got.interaction is None


async def test_out_of_hours_treatment_transfers_to_another_queue(make_ebe: EbeFactory) -> None:
    env = await schedule_env(make_ebe, "treatment", treatment_queue="101")
    conv = await env.create({"channelId": "1", "user": {"name": "Night Owl"}})
    await env.advance(5)
    got = env.state.conversations[conv]
    assert got.queue_id == "101"
    assert got.agent_id == SALES_AGENT["id"]


async def test_schedules_through_the_control_plane(ebe: Ebe) -> None:
    body = {"schedules": [{**OFFICE, "name": "Weekend", "week_days": [{"day": 0, "status": 1}]}]}
    resp = await ebe.http.put(f"/_emulator/vendors/eightbyeight/tenants/{ebe.tenant}/schedules", json=body)
    assert resp.status_code == 200, resp.text
    assert [s["name"] for s in resp.json()["schedules"]] == ["Weekend"]
    assert (await ebe.http.get(f"{SCHEDULES}/Weekend", headers=basic(API_KEY, "t"))).status_code == 200
    bad = {"schedules": [{"name": "X", "time_zone": "Mars/Base"}]}
    resp = await ebe.http.put(f"/_emulator/vendors/eightbyeight/tenants/{ebe.tenant}/schedules", json=bad)
    assert resp.status_code == 400
    assert "time zone" in resp.json()["message"]
    twice = {"schedules": [{"name": "X"}, {"name": "X"}]}
    resp = await ebe.http.put(f"/_emulator/vendors/eightbyeight/tenants/{ebe.tenant}/schedules", json=twice)
    assert resp.status_code == 400
    hours = {"schedules": [{"name": "Y", "week_days": [{"day": 1, "start_time": "25:00"}]}]}
    resp = await ebe.http.put(f"/_emulator/vendors/eightbyeight/tenants/{ebe.tenant}/schedules", json=hours)
    assert resp.status_code == 400
