"""A small typed client for a running cxemu server's control plane (`/_emulator`), used by the `cxemu` client
commands (`tail`, `clock`, `act`, `trigger`, `redeliver`; `emulator.cli`).

- `Client(url, admin_token)`: one httpx connection pool; `call(method, path, ...)` returns the JSON answer or
  raises `ClientError`, whose message is one line a user can act on: the server cannot be reached, the admin
  token is missing or wrong (401/403), something does not exist (404), the input was refused (4xx, with the
  control plane's `error: message`).
- The operations the commands use: `clock`, `advance`, `run_until_idle`, `deliveries`, `delivery`,
  `redeliver`, `signature`, `load_scenario`, `scenario`, `unload_scenario`, `act`.
- `follow(...)`: the unified journal as server-sent events (`GET /_emulator/events`), as `Frame`s. A dropped
  connection is resumed with `Last-Event-ID` (the server replays what came after it: no gap, no duplicate);
  a `gap` frame says entries were lost before the replay (with `"restarted": true`, ids started again because the
  server restarted without a state file, or a fleet's Redis restarted empty: what follows has the new, lower ids).
- `entry_line(entry)` and `attempt_line(delivery, attempt)`: one console line per journal entry or delivery
  attempt, in the format of the server's own webhook line (`core.console`):
  `2026-01-01T00:00:00.200Z eightbyeight/demo QUEUED c0a8… -> http://… [200] (1.4 ms)`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.core.clock import iso

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
CONTROL = "/_emulator"
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Wall seconds `follow` waits before each reconnect attempt (the last one repeats)."""

Params = Mapping[str, str | int | float | Sequence[str]]


class ClientError(Exception):
    """A request the server refused or could not answer; `str()` is one line for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Frame:
    """One server-sent event: `kind` is the journal entry's kind (or `gap`; or, a fleet's last frame when its Redis
    stopped answering, `unavailable`: `{"after", "message"}`), `entry` its JSON."""

    id: int | None
    kind: str
    entry: dict[str, Any]


class Client:
    """The control plane of the server at `url`; see the module docstring."""

    def __init__(self, url: str = DEFAULT_URL, admin_token: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = admin_token
        headers = {"authorization": f"Bearer {admin_token}"} if admin_token else {}
        import httpx  # here, not at the top: `cxemu serve` and `cxemu version` load this module and never need it

        self._httpx = httpx
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request ------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """`method CONTROL+path`; the JSON answer (None when empty), or `ClientError`."""
        extra: dict[str, Any] = {}
        if content is not None:
            extra["content"] = content.encode()
            extra["headers"] = {"content-type": "application/yaml"}
        elif body is not None:
            extra["json"] = body
        if timeout is not None:
            extra["timeout"] = timeout + 10
        try:
            r = self._http.request(method, CONTROL + path, params=params, **extra)
        except self._httpx.TimeoutException:
            raise ClientError(f"{self.url} did not answer {method} {CONTROL}{path} in time") from None
        except self._httpx.TransportError as exc:
            raise ClientError(f"cannot reach cxemu at {self.url} ({_reason(exc)})") from None
        return self._answer(r, method, path)

    def _answer(self, r: httpx.Response, method: str, path: str) -> Any:
        if r.is_success:
            return r.json() if r.content else None
        code, message = _error_of(r)
        if r.status_code == 401:
            hint = (
                "the admin token was refused"
                if self.token
                else "pass the admin token (--admin-token or CXEMU_ADMIN_TOKEN)"
            )
            raise ClientError(f"401 {code}: {hint}", 401)
        if r.status_code == 403:
            raise ClientError(f"403 {code}: {message}", 403)
        raise ClientError(f"{r.status_code} {code}: {message}", r.status_code)

    # -- the operations -----------------------------------------------------------------------------------

    def clock(self, tenant: str | None = None) -> dict[str, Any]:
        return dict(self.call("GET", "/clock", params={"tenant": tenant} if tenant else None))

    def advance(self, seconds: float, tenants: Sequence[str] = ()) -> dict[str, Any]:
        params = {"tenant": list(tenants)} if tenants else None
        return dict(self.call("POST", "/clock/advance", params=params, body={"seconds": seconds}))

    def run_until_idle(self, tenants: Sequence[str] = ()) -> dict[str, Any]:
        params = {"tenant": list(tenants)} if tenants else None
        return dict(self.call("POST", "/clock/run-until-idle", params=params, body={}))

    def deliveries(self, **filters: str | int | float) -> list[dict[str, Any]]:
        """`GET /deliveries` (filters and `wait`/`count` as the control plane takes them)."""
        wait = float(filters.get("wait", 0))
        found = self.call("GET", "/deliveries", params=filters, timeout=wait or None)
        return list(found["deliveries"])

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/deliveries/{delivery_id}"))

    def redeliver(self, delivery_id: str, *, mode: str | None = None, url: str | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("mode", mode), ("url", url)) if v is not None}
        return dict(self.call("POST", f"/deliveries/{delivery_id}/redeliver", body=body))

    def signature(self, delivery_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/deliveries/{delivery_id}/signature"))

    def load_scenario(self, text: str, *, tenant: str | None = None, webhook_url: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in (("tenant", tenant), ("webhook_url", webhook_url)) if v is not None}
        return dict(self.call("POST", "/scenarios", params=params, content=text))

    def scenario(self, scenario_id: str, *, wait: float = 0.0) -> dict[str, Any]:
        return dict(self.call("GET", f"/scenarios/{scenario_id}", params={"wait": wait}, timeout=wait or None))

    def unload_scenario(self, scenario_id: str) -> dict[str, Any]:
        return dict(self.call("DELETE", f"/scenarios/{scenario_id}"))

    def act(self, vendor: str, tenant: str, path: str, body: Mapping[str, Any]) -> Any:
        """A hand action: `POST /vendors/<vendor>/tenants/<tenant>/<path>`."""
        return self.call("POST", f"/vendors/{vendor}/tenants/{tenant}/{path}", body=dict(body))

    # -- the journal stream ---------------------------------------------------------------------------------

    def follow(self, params: Params | None = None, *, after: int | None = None) -> Iterator[Frame]:
        """Journal entries as they come (`GET /events`), resuming after a dropped connection from the last id
        seen. The first connection failing raises `ClientError`; later ones are retried until the caller stops."""
        last = after
        connected = False
        failures = 0
        while True:
            try:
                for frame in self._stream(params, last):
                    connected, failures = True, 0
                    if frame.id is not None:
                        last = frame.id
                    yield frame
            except ClientError:
                if not connected:
                    raise
            except self._httpx.TransportError as exc:
                if not connected:
                    raise ClientError(f"cannot reach cxemu at {self.url} ({_reason(exc)})") from None
            time.sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
            failures += 1

    def _stream(self, params: Params | None, last: int | None) -> Iterator[Frame]:
        headers = {"last-event-id": str(last)} if last is not None else {}
        timeout = self._httpx.Timeout(10.0, read=None)
        with self._http.stream("GET", f"{CONTROL}/events", params=params, headers=headers, timeout=timeout) as r:
            if not r.is_success:
                r.read()
                self._answer(r, "GET", "/events")
            yield from parse_sse(r.iter_lines())


def parse_sse(lines: Iterator[str]) -> Iterator[Frame]:
    """Server-sent event frames (`id:`, `event:`, `data:` fields; `:` comments and heartbeats skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                frame_id = fields.get("id")
                entry = json.loads("\n".join(data))
                kind = fields.get("event") or "message"
                yield Frame(int(frame_id) if frame_id and frame_id.isdigit() else None, kind, entry)
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value


# -- console lines --------------------------------------------------------------------------------------------


def _where(entry: Mapping[str, Any]) -> str:
    vendor, tenant = entry.get("vendor"), entry.get("tenant")
    if vendor is None and tenant is None:
        return "cxemu"
    return f"{vendor or '-'}/{tenant or '-'}"


def _ms(value: Any) -> str:
    return f"{float(value):.1f} ms" if isinstance(value, int | float) else "- ms"


def attempt_outcome(a: Mapping[str, Any], outcome: str | None, next_at: float | None, tried: int) -> str:
    """What became of one attempt and what comes next, in `core.console`'s words: `[200]` or the error, then a
    retry, giving up, or a chaos duplicate."""
    result = f"[{a['status']}]" if a.get("status") is not None else f"error: {a.get('error')}"
    if a.get("chaos") == "duplicate":
        return f"{result} (chaos duplicate)"
    if outcome == "retry" and next_at is not None:
        return f"{result}, retry in {max(0.0, next_at - float(a['at'])):g} s"
    if outcome == "failed":
        return f"{result}, gave up after {tried} attempts"
    return result


def attempt_line(delivery: Mapping[str, Any], attempt: Mapping[str, Any]) -> str:
    """One attempt of a delivery (`GET /deliveries` JSON) as the server's console line, and the delivery's id."""
    attempts = delivery["attempts"]
    last = attempt == attempts[-1]
    outcome = {"pending": "retry", "failed": "failed"}.get(delivery["status"]) if last else None
    after = attempt_outcome(attempt, outcome, delivery.get("next_attempt_at"), len(attempts))
    tail = f", attempt {attempt['n'] + 1}" if attempt["n"] else ""
    return (
        f"{iso(attempt['at'], millis=True)} {_where(delivery)} {delivery['event']} {delivery['subject'] or '-'} "
        f"-> {attempt['url']} {after} ({_ms(attempt['latency_ms'])}{tail}) {delivery['id']}"
    )


def entry_line(entry: Mapping[str, Any]) -> str:
    """One journal entry (SPEC §1) as a console line: time, vendor/tenant, kind, type, subject, and what it says."""
    kind, data = entry.get("kind"), entry.get("data") or {}
    at = float(entry.get("at") or 0.0)
    head = f"{iso(at, millis=True)} {_where(entry)}"
    subject = entry.get("subject") or "-"
    if kind == "attempt":
        n = int(data.get("n") or 0)
        outcome = attempt_outcome({**data, "at": at}, data.get("outcome"), data.get("next_at"), n + 1)
        tail = f", attempt {data['n'] + 1}" if data.get("n") else ""
        return (
            f"{head} {entry.get('type')} {subject} -> {data.get('url')} {outcome} "
            f"({_ms(data.get('latency_ms'))}{tail}) {data.get('delivery_id', '')}".rstrip()
        )
    if kind in ("request", "control"):
        took = f" ({_ms(data['latency_ms'])})" if isinstance(data.get("latency_ms"), int | float) else ""
        return f"{head} {kind} {entry.get('type')} -> {data.get('status', '-')}{took}"
    if kind == "delivery":
        return (
            f"{head} delivery {entry.get('type')} {subject} -> {data.get('url')} {data.get('delivery_id', '')}".rstrip()
        )
    if kind == "action":
        text = f" {json.dumps(data['text'], ensure_ascii=False)}" if data.get("text") else ""
        return f"{head} action {data.get('party') or entry.get('party') or '-'} {entry.get('type')} {subject}{text}"
    return f"{head} {kind} {entry.get('type')} {subject}"


def _error_of(r: httpx.Response) -> tuple[str, str]:
    """The control plane's `{"error", "message"}` (or a vendor's envelope, or the text) of a failed answer."""
    try:
        body = r.json()
    except ValueError:
        return r.reason_phrase.lower().replace(" ", "_") or "error", r.text.strip()[:300] or r.reason_phrase
    if isinstance(body, dict):
        code = body.get("error") or body.get("code") or r.reason_phrase
        message = body.get("message") or body.get("detail") or json.dumps(body, ensure_ascii=False)
        detail = _detail(body.get("detail"))
        if detail and detail not in str(message):
            message = f"{message} ({detail})"
        return str(code), " ".join(str(message).split())
    return r.reason_phrase, json.dumps(body, ensure_ascii=False)[:300]


def _detail(detail: Any) -> str:
    """What a hand action's `detail` (the vendor's own error envelope) adds: its errors' codes and messages."""
    if not isinstance(detail, dict):
        return ""
    errors = detail.get("errors")
    if isinstance(errors, list):
        found = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict) and e.get("message")]
        if found:
            return "; ".join(found)
    return str(detail.get("message") or detail.get("code") or "")


def _reason(exc: httpx.TransportError) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]  # one of them is set
    text = str(cause) or type(cause).__name__
    return text.split("] ", 1)[-1]
