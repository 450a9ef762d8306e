"""8x8's companion APIs over real HTTP (uvicorn): `credentials("eightbyeight")` gives a test everything it needs to
reach one contact center through Chat Gateway, OAuth, real-time metrics and the Tenant Schedule API, in `strict`
auth (where only the provisioned secrets work)."""

from __future__ import annotations

import httpx

from emulator.pytest_plugin import CxemuHandle, CxemuServer, ServerThread


def test_the_plugins_credentials_reach_every_8x8_api() -> None:
    server = ServerThread({"clock": "virtual", "auth": "strict"})
    server.start()
    try:
        handle = CxemuHandle(CxemuServer(url=server.url), "t-companion")
        try:
            creds = handle.credentials("eightbyeight")
            with httpx.Client(base_url=server.url, timeout=30) as http:
                created = http.post(
                    "/chat-gateway/v1/conversations",
                    json={"channelId": creds["channelId"], "user": {"name": "Ada"}},
                    headers={"x-api-key": creds["apiKey"]},
                )
                assert created.status_code == 202, created.text
                handle.advance(1)
                refused = http.post(
                    "/oauth/v2/token", data={"grant_type": "client_credentials"}, auth=(creds["clientId"], "guess")
                )
                assert refused.status_code == 401
                token = http.post(
                    "/oauth/v2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(creds["clientId"], creds["clientSecret"]),
                )
                assert token.status_code == 200, token.text
                bearer = {"authorization": f"Bearer {token.json()['access_token']}"}
                queue = creds["queues"][0]
                metrics = http.get(
                    f"/analytics/cc/v5/realtime-metrics/queues/{queue}",
                    params={"metrics": "interactionsWaitInQueue.rt"},
                    headers=bearer,
                )
                assert metrics.status_code == 200, metrics.text
                assert metrics.json()["metrics"] == [{"key": "interactionsWaitInQueue.rt", "value": 1}]
                schedules = http.get(
                    "/api/provisioning/schedules",
                    auth=(creds["scheduleUser"], creds["scheduleToken"]),
                    headers={"accept": "application/xml"},
                )
                assert schedules.status_code == 200, schedules.text
                assert schedules.headers["content-type"].startswith("application/xml")
                assert http.get("/api/provisioning/schedules", auth=(creds["scheduleUser"], "x")).status_code == 401
        finally:
            handle.close()
    finally:
        server.stop()
