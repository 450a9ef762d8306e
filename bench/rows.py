"""The rows: which servers to start for the rows wanted, the sanity checks run before anything is timed, and
the `Row` list the repetitions go through.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import redisrows
import wiremock
from harness import (
    BENCH,
    ECHO_PLUGIN,
    HOST,
    ITEM_BODY,
    LOAD_CPU,
    SERVER_CPU,
    TENANT_HEADER,
    Proc,
    Procs,
    Receiver,
    clean_env,
    expect,
    free_port,
    loaded_modules,
    request,
    wait_ready,
)
from measure import Bench, Row, floor_sent
from vendors import (
    CM_ACCEPTED,
    CM_PATH,
    CM_SANITY_TENANT,
    CONVERSATION_BODY,
    FLOOR_CM_PATH,
    FLOOR_HOOK_BYTES,
    FLOOR_HOOKS,
    FLOOR_MESSAGE_PATH,
    FLOW_BODY,
    HOOKS_PER_CONVERSATION,
    MESSAGE_BODY,
    P8,
    QUEUE_PROBE,
    QUEUEPROBE,
    REPORTS_PER_MESSAGE,
    SAMESPACE_SECTION,
    SANGOMA_INBOXES,
    SANGOMA_INBOXES_EXPECTED,
    SS_FLOW_PATH,
    api_key,
    cm_body,
    cm_sent,
    cm_token,
    cmcom_section,
    cxemu_cmd,
    eightbyeight_config,
    point_webhook,
    samespace_call,
    sangoma_token,
    vendor_config,
)
from wiremock import RUN_HEADER

ALL_ROWS = (
    "bare-get",
    "8x8-get",
    "bare-post",
    "bare-post-webhook",
    "bare-post-2webhooks",
    "8x8-post-message",
    "8x8-post-message-unsigned",
    "8x8-signed-drain",
    "sangoma-get",
    "cmcom-post-message",
    "samespace-post-flow",
    *wiremock.ROWS,
)
ECHO_ROWS = ("cxemu-get", "cxemu-post-webhook")


def start_servers(procs: Procs, wanted: set[str], workdir: Path, wiremock_jar: Path | None = None) -> dict[str, Proc]:
    servers: dict[str, Proc] = {}
    port = free_port()
    servers["receiver"] = procs.start(
        "receiver", [sys.executable, str(BENCH / "receiver.py"), str(port)], LOAD_CPU, port=port, env=clean_env()
    )
    default_hook = f"http://{HOST}:{port}/hook/default"
    port = free_port()
    bare = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH), "--host", HOST]
    bare += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    bare += ["--log-level", "warning"]
    base = {"BARE_WEBHOOK_BASE": f"http://{HOST}:{servers['receiver'].port}"}  # the floor rows' webhooks
    servers["bare"] = procs.start("bare", bare, SERVER_CPU, port=port, env=clean_env(base))
    signed = {"8x8-get", "8x8-post-message", "8x8-signed-drain"}
    wants = {
        "8x8": bool(wanted & signed),
        "8x8-unsigned": bool(wanted & {"8x8-post-message-unsigned", redisrows.TENANTS_MEMORY}),
        "cxemu": bool(wanted & set(ECHO_ROWS)),
    }
    wants.update(
        sangoma="sangoma-get" in wanted, cmcom="cmcom-post-message" in wanted, samespace="samespace-post-flow" in wanted
    )
    for name, needed in wants.items():
        if not needed:
            continue
        port = free_port()
        if name == "cxemu":
            cmd = cxemu_cmd(port, plugin=ECHO_PLUGIN)
        elif name == "sangoma":  # defaults: a new tenant has two inboxes
            cmd = cxemu_cmd(port, webhook_url=default_hook)
        elif name == "cmcom":  # CM counts only 200 as received: its hooks go to /hook200/...
            sanity_hook = f"http://{HOST}:{servers['receiver'].port}/hook200/{CM_SANITY_TENANT}"
            config = vendor_config(workdir, "cmcom", cmcom_section(sanity_hook))
            probe = QUEUEPROBE if QUEUE_PROBE["on"] else ""
            hook = default_hook.replace("/hook/", "/hook200/") + "-cmcom"
            cmd = cxemu_cmd(port, config=config, webhook_url=hook, plugin=probe)
        elif name == "samespace":  # no callback URL: call events are not posted
            cmd = cxemu_cmd(port, config=vendor_config(workdir, "samespace", SAMESPACE_SECTION))
        else:
            config = eightbyeight_config(workdir, name.replace("8x8", "eightbyeight"), signing=name == "8x8")
            cmd = cxemu_cmd(port, config=config, webhook_url=default_hook)
        servers[name] = procs.start(name, cmd, SERVER_CPU, port=port, env=clean_env())
    if wiremock_jar is not None and wanted & set(wiremock.ROWS):
        port = free_port()
        cmd = wiremock.command(wiremock_jar, port, wiremock.write_root(workdir, servers["receiver"].port))
        servers["wiremock"] = procs.start("wiremock", cmd, SERVER_CPU, port=port)
    servers.update(redisrows.start(procs, wanted, workdir, default_hook))  # the Redis rows' (run.py --redis)
    ready = {"receiver": "/stats", "bare": "/", "wiremock": wiremock.GET_PATH}
    for proc in servers.values():
        if proc.name == "redis":  # answered PING already
            continue
        path = ready.get(proc.name, "/_emulator/health")
        wait_ready(proc, path)
    return servers


def floor_sanity(port: int, receiver: Receiver, row: str, path: str, body: str, status: int) -> dict[str, Any]:
    """One request of a floor row: answered as its cxemu row is, its webhooks (and no more) at the receiver."""
    run = f"sanity-{row}"
    hooks = FLOOR_HOOKS[row]
    expect(*request(port, "POST", path, body, headers={RUN_HEADER: run}), status, f"{row} POST")
    receiver.wait_for(run, hooks, time.time(), 30.0)
    time.sleep(0.5)  # nothing more may come
    got = receiver.entry(run)
    sent = floor_sent(port, run)
    found = {"received": got.get("count", 0), "bytes": got.get("bytes", 0), "sent": sent}
    if found != {"received": hooks, "bytes": FLOOR_HOOK_BYTES[row], "sent": 1}:
        raise RuntimeError(f"{row}: expected {hooks} webhook(s) of {FLOOR_HOOK_BYTES[row]} bytes; got {found}")
    return found


def sanity(servers: dict[str, Proc], receiver: Receiver, bench: Bench) -> dict[str, Any]:
    """Every endpoint answers as expected and each kind of webhook arrives, before anything is timed."""
    out: dict[str, Any] = {}
    bare = servers["bare"].port
    out["bare_get"] = expect(*request(bare, "GET", "/echo/v1/items/it-1", None, "bench"), 200, "bare GET")
    out["bare_post"] = expect(*request(bare, "POST", "/echo/v1/items", ITEM_BODY, "bench"), 201, "bare POST")
    for row, path, body, status in (
        ("bare-post-webhook", FLOOR_MESSAGE_PATH, MESSAGE_BODY, 202),
        ("bare-post-2webhooks", FLOOR_CM_PATH, cm_body(cm_token(CM_SANITY_TENANT)), 200),
    ):
        out[row] = floor_sanity(bare, receiver, row, path, body, status)
    out["bare_modules"] = loaded_modules(servers["bare"].pid)
    proc = servers.get("cxemu")
    if proc is not None:
        item = expect(*request(proc.port, "POST", "/echo/v1/items", ITEM_BODY, "bench"), 201, "echo POST")
        if item["id"] != "it-1":
            raise RuntimeError(f"echo: first item is {item['id']}, expected it-1")
        out["cxemu_get"] = expect(*request(proc.port, "GET", "/echo/v1/items/it-1", None, "bench"), 200, "GET")
        bench.register_hook(proc.port, "sanity-cxemu")
        expect(*request(proc.port, "POST", "/echo/v1/items", ITEM_BODY, "sanity-cxemu"), 201, "sanity POST")
        got, _ = receiver.wait_for("sanity-cxemu", 1, time.time(), 30.0)
        if got != 1:
            raise RuntimeError(f"echo: sanity webhook not delivered (received {got})")
        out["cxemu_modules"] = loaded_modules(proc.pid)
    for name in ("8x8", "8x8-unsigned"):
        proc = servers.get(name)
        if proc is None:
            continue
        port, key = proc.port, f"sanity-{name}"
        point_webhook(port, key, receiver.url(key))
        conv = expect(*request(port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key(key)), 202, key)
        cid = conv["conversationId"]
        got, _ = receiver.wait_for(key, HOOKS_PER_CONVERSATION, time.time(), 30.0)
        if got != HOOKS_PER_CONVERSATION:
            raise RuntimeError(f"{name}: a new conversation fired {got} webhooks, expected {HOOKS_PER_CONVERSATION}")
        expect(*request(port, "GET", f"{P8}/conversations/{cid}", headers=api_key(key)), 200, f"{name} GET")
        path = f"{P8}/conversations/{cid}/messages"
        expect(*request(port, "POST", path, MESSAGE_BODY, headers=api_key(key)), 202, f"{name} POST message")
        got, _ = receiver.wait_for(key, HOOKS_PER_CONVERSATION + 1, time.time(), 30.0)
        time.sleep(0.5)
        got, _ = receiver.stats(key)
        q = f"/_emulator/deliveries?tenant={key}&event=MESSAGE&wait=10"
        d = expect(*request(port, "GET", q), 200, "deliveries")["deliveries"]
        headers = d[0]["attempts"][-1]["headers"] if d and d[0]["attempts"] else {}
        data = (d[0].get("body") or {}).get("data", {}) if d else {}
        out[f"{name}_webhook"] = {
            "received": got,
            "status": d[0]["status"] if d else None,
            "headers": sorted(headers),
            "is_echo": data.get("isEcho"),
        }
        if got != HOOKS_PER_CONVERSATION + 1 or len(d) != 1 or d[0]["status"] != "delivered" or not data.get("isEcho"):
            raise RuntimeError(f"{name}: expected one delivered MESSAGE (isEcho) webhook; got {got - 3}, log {d[:1]}")
        signed = "x-8x8-signature" in headers
        if signed != (name == "8x8"):
            raise RuntimeError(f"{name}: x-8x8-signature {'present' if signed else 'missing'}: {sorted(headers)}")
        out[f"{name}_modules"] = loaded_modules(proc.pid)
    proc = servers.get("8x8")
    if proc is not None:  # the conversation 8x8-get reads
        conv = expect(
            *request(proc.port, "POST", f"{P8}/conversations", CONVERSATION_BODY, headers=api_key("bench")), 202, "conv"
        )
        out["8x8_get_path"] = f"{P8}/conversations/{conv['conversationId']}"
        out["8x8_get"] = expect(*request(proc.port, "GET", out["8x8_get_path"], headers=api_key("bench")), 200, "GET")
    proc = servers.get("sangoma")
    if proc is not None:  # the token sangoma-get sends; the inboxes it reads
        token = sangoma_token(proc.port)
        out["sangoma_get_headers"] = {"authorization": f"Bearer {token}"}
        status, raw = request(proc.port, "GET", SANGOMA_INBOXES, headers=out["sangoma_get_headers"])
        data = expect(status, raw, 200, "Sangoma GET inboxes")
        listed = [(i.get("name"), i.get("channel_type")) for i in data.get("payload", [])]
        if listed != SANGOMA_INBOXES_EXPECTED:
            raise RuntimeError(f"sangoma: GET inboxes listed {listed}, expected {SANGOMA_INBOXES_EXPECTED}")
        status, _ = request(proc.port, "GET", SANGOMA_INBOXES)
        if status != 401:
            raise RuntimeError(f"sangoma: GET inboxes without a token answered {status}, expected 401")
        out["sangoma_get"] = {"inboxes": listed, "body_bytes": len(raw)}
        out["sangoma_modules"] = loaded_modules(proc.pid)
    proc = servers.get("cmcom")
    if proc is not None:  # the configured tenant: one message, exactly two status reports, both received (200)
        port, key = proc.port, CM_SANITY_TENANT
        data = expect(*request(port, "POST", CM_PATH, cm_body(cm_token(key))), 200, "CM send")
        if data != CM_ACCEPTED:
            raise RuntimeError(f"cmcom: send answered {data}, expected {CM_ACCEPTED}")
        receiver.wait_for(key, REPORTS_PER_MESSAGE, time.time(), 30.0)
        time.sleep(0.5)  # nothing more may come
        got, _ = receiver.stats(key)
        q = f"/_emulator/deliveries?tenant={key}&event=StatusReport&wait=10"
        d = expect(*request(port, "GET", q), 200, "deliveries")["deliveries"]
        codes = sorted(str(x["body"]["messages"]["msg"]["status"]["code"]) for x in d)
        statuses = sorted(str(x["status"]) for x in d)
        sent = cm_sent(port, key)
        out["cmcom_webhook"] = {"received": got, "codes": codes, "statuses": statuses, "sent": sent}
        if got != REPORTS_PER_MESSAGE or codes != ["0", "2"] or statuses != ["delivered"] * 2 or sent != 1:
            raise RuntimeError(f"cmcom: expected 1 message and 2 delivered reports (0, 2); got {out['cmcom_webhook']}")
        out["cmcom_modules"] = loaded_modules(proc.pid)
    proc = servers.get("samespace")
    if proc is not None:  # one flow: accepted as queued, then dialled, answered, played and hung up on the clock
        data = expect(*request(proc.port, "POST", SS_FLOW_PATH, FLOW_BODY), 200, "Samespace POST flow")
        if data.get("success") is not True or data.get("status") != "queued" or not data.get("call_id"):
            raise RuntimeError(f"samespace: POST flow answered {data}")
        call = samespace_call(proc.port, str(data["call_id"]))
        steps = [(st["id"], st["result"]) for st in call.get("steps", [])]
        out["samespace_call"] = {"status": call.get("status"), "end_reason": call.get("end_reason"), "steps": steps}
        if call.get("status") != "completed" or [sid for sid, _ in steps] != ["0", "1"]:
            raise RuntimeError(f"samespace: the call did not run call -> play -> end: {out['samespace_call']}")
        out["samespace_modules"] = loaded_modules(proc.pid)
    proc = servers.get("wiremock")
    if proc is not None:
        out["wiremock"] = wiremock.sanity(proc.port, receiver)
    out.update(redisrows.sanity(servers, receiver))
    return out


def build_rows(servers: dict[str, Proc], checks: dict[str, Any], wanted: set[str]) -> list[Row]:
    message_path = f"{P8}/conversations/{{id}}/messages"  # the real paths come from each run's conversations
    rows: list[Row] = [Row("bare-get", servers["bare"], "GET", "/echo/v1/items/it-1", None)]
    if "cxemu" in servers:
        rows.append(Row("cxemu-get", servers["cxemu"], "GET", "/echo/v1/items/it-1", "bare-get"))
        rows[-1].headers = {TENANT_HEADER: "bench"}
    if "8x8" in servers:
        rows.append(Row("8x8-get", servers["8x8"], "GET", checks["8x8_get_path"], "bare-get"))
        rows[-1].headers = api_key("bench")
    if "sangoma" in servers:
        rows.append(Row("sangoma-get", servers["sangoma"], "GET", SANGOMA_INBOXES, "bare-get"))
        rows[-1].headers = dict(checks["sangoma_get_headers"])
    rows.append(Row("bare-post", servers["bare"], "POST", "/echo/v1/items", None, body=ITEM_BODY))
    rows[-1].headers = {TENANT_HEADER: "bench"}
    bare = servers["bare"]
    rows.append(Row("bare-post-webhook", bare, "POST", FLOOR_MESSAGE_PATH, "bare-post", "bare-webhook", MESSAGE_BODY))
    rows.append(Row("bare-post-2webhooks", bare, "POST", FLOOR_CM_PATH, "bare-post", "bare-webhook"))
    rows[-1].body, rows[-1].hooks = cm_body(cm_token(CM_SANITY_TENANT)), 2
    if "cxemu" in servers:
        rows.append(
            Row(
                "cxemu-post-webhook", servers["cxemu"], "POST", "/echo/v1/items", "bare-post", "echo-webhook", ITEM_BODY
            )
        )
    if "8x8" in servers:
        rows.append(
            Row("8x8-post-message", servers["8x8"], "POST", message_path, "bare-post", "8x8-webhook", MESSAGE_BODY)
        )
    if "8x8-unsigned" in servers:
        rows.append(
            Row(
                "8x8-post-message-unsigned",
                servers["8x8-unsigned"],
                "POST",
                message_path,
                "bare-post",
                "8x8-webhook",
                MESSAGE_BODY,
            )
        )
    if "cmcom" in servers:  # the body (product token = the run's fresh tenant) is set per run
        rows.append(Row("cmcom-post-message", servers["cmcom"], "POST", CM_PATH, "bare-post", "cm-webhook"))
    if "samespace" in servers:
        rows.append(Row("samespace-post-flow", servers["samespace"], "POST", SS_FLOW_PATH, "bare-post", body=FLOW_BODY))
    if "wiremock" in servers:  # the peer: the same references as cxemu's rows
        wm = servers["wiremock"]
        rows.append(Row("wiremock-get", wm, "GET", wiremock.GET_PATH, "bare-get"))
        rows.append(Row("wiremock-post", wm, "POST", wiremock.POST_PATH, "bare-post", body=wiremock.POST_BODY))
        rows.append(
            Row("wiremock-post-webhook", wm, "POST", wiremock.HOOK_PATH, "bare-post", "wm-webhook", wiremock.POST_BODY)
        )
    rows += redisrows.build(servers, checks, wanted)
    return [r for r in rows if r.name in wanted]
