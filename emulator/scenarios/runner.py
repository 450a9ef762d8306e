"""Run one scenario against an Emulator and its app: set up the world, run the actors, play the steps.

The same `ScenarioRun` serves every way of running a file:

- self-contained (`standalone.run_loaded` / `run_path`: the CLI and pytest items): a fresh in-process app on a virtual
  clock seeded with the scenario's seed, and a built-in webhook receiver whose URL is `{{webhook_url}}`;
- loaded into a running server (`service.ScenarioManager`): the server's emulator, the steps in a
  background task, the actors live until the scenario is unloaded.

Either way the run lives on its tenant's own timeline (`core.clock`), which starts again at the virtual start
when the tenant has no state in another vendor: its `advance`, `wait_until_idle` and `within` move that
timeline only, so a scenario loaded into a shared server disturbs no other tenant, and loading it again gives
the same bodies.

Requests go to the app in-process (httpx over ASGI); `expect_webhook` reads the dispatcher's delivery log of
the scenario's tenant (what was delivered, with the exact body and headers sent). On a virtual clock,
`within: N` moves time to each next due timer until the expectation is met or N seconds have passed; on the
system clock it waits up to N real seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from emulator.core.clock import SchedulerRunaway, Timer, iso, wall_monotonic
from emulator.core.delivery import Delivery
from emulator.core.errors import EmulatorError
from emulator.core.events import DomainEvent
from emulator.core.feed import Entry
from emulator.core.runtime import Emulator
from emulator.core.web import first_error
from emulator.core.webhooks import DeliveryFilter
from emulator.scenarios.behaviour import vendor_steps
from emulator.scenarios.errors import ScenarioError
from emulator.scenarios.hooks import ActionBase, ScenarioContext
from emulator.scenarios.loader import LoadedScenario, run_tenant
from emulator.scenarios.match import compact, get_path, subset_mismatches
from emulator.scenarios.results import ActorError, ActorStat, NearMiss, ScenarioResult, StepResult
from emulator.scenarios.schema import (
    AdvanceStep,
    ExpectWebhookSpec,
    ExpectWebhookStep,
    RequestSpec,
    RequestStep,
    WaitUntilIdleStep,
    step_kind_of,
)

LOG = logging.getLogger(__name__)
PARTIES = {"agent": "agent", "customer": "customer", "end_user": "customer", "callee": "customer", "call": "customer"}
"""Which lane of the feed an action's kind key acts on (`{agent: say}`: the agent's)."""

MAX_NEAR_MISSES = 5


# -- one run ----------------------------------------------------------------------------------------------


def _title(kind: str, step: BaseModel) -> str:
    if isinstance(step, RequestStep):
        return f"request {step.request.method} {step.request.path}"
    if isinstance(step, ExpectWebhookStep):
        spec = step.expect_webhook
        what = spec.match.get("eventType") if isinstance(spec.match.get("eventType"), str) else None
        label = what or compact(spec.match, 60)
        count = "none" if spec.count == 0 else ("" if spec.count == 1 else f"x{spec.count}")
        return f"expect_webhook {label}{' ' + count if count else ''} within {spec.within:g}s"
    if isinstance(step, AdvanceStep):
        return f"advance {step.advance:g}s"
    if isinstance(step, WaitUntilIdleStep):
        return "wait_until_idle"
    if isinstance(step, ActionBase):
        return step.describe()
    return kind


class ScenarioRun:
    """One scenario on one emulator; see the module docstring."""

    def __init__(
        self,
        loaded: LoadedScenario,
        emu: Emulator,
        app: Any,
        *,
        run_id: str,
        tenant: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.loaded = loaded
        self.emu = emu
        self.app = app
        self.hooks = loaded.hooks
        self.kinds = vendor_steps(loaded.hooks, loaded.behaviour)
        model = loaded.model
        self.vendor = model.vendor
        self.tenant = tenant or run_tenant(loaded)
        self.rules: list[Any] = loaded.actors
        self.steps: list[BaseModel] = loaded.steps
        self.variables: dict[str, Any] = {
            "tenant": self.tenant,
            "vendor": self.vendor,
            "seed": emu.store.seed,
            **model.variables,
            **(variables or {}),
        }
        self.result = ScenarioResult(
            id=run_id,
            name=model.name,
            source=loaded.source,
            vendor=self.vendor,
            tenant=self.tenant,
            seed=emu.store.seed,
            virtual=emu.clock.virtual,
        )
        for i, step in enumerate(self.steps):
            kind = step_kind_of(step)
            self.result.steps.append(StepResult(i, kind, _title(kind, step), loaded.line("steps", i)))
        for i, rule in enumerate(self.rules):
            stat = ActorStat(i, rule.name, rule.when.event, loaded.line("actors", i))
            self.result.actors.append(stat)
        self.active = False
        self.consumed: dict[str, int] = {}
        self.cursor = 0
        self.cursor_step: int | None = None
        self._timers: set[Timer] = set()
        self._task: asyncio.Task[ScenarioResult] | None = None
        self._client: httpx.AsyncClient | None = None
        self._wall_started = wall_monotonic()

    # -- context --------------------------------------------------------------------------------------

    def ctx(self, extra: Mapping[str, Any] | None = None) -> ScenarioContext:
        variables = {**self.variables, **extra} if extra else self.variables
        return ScenarioContext(emu=self.emu, vendor=self.vendor, tenant=self.tenant, variables=variables)

    def _now(self) -> float:
        now = self.emu.scheduler.now(self.tenant)
        self.result.now = now
        return now

    def offset(self, at: float) -> str:
        return f"t+{at - self.result.started_at:.3f}s"

    def when(self, at: float) -> str:
        return f"{iso(at, millis=True)} ({self.offset(at)})"

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = httpx.ASGITransport(app=self.app)
            self._client = httpx.AsyncClient(transport=transport, base_url="http://cxemu.scenario", timeout=60.0)
        return self._client

    # -- lifecycle ------------------------------------------------------------------------------------

    async def setup(self) -> None:
        """Build the tenant's world and start the actors; raises ScenarioError (also kept in the result)."""
        self._wall_started = wall_monotonic()
        self.emu.reset(self.vendor, self.tenant)
        if not any(self.emu.store.exists(slug, self.tenant) for slug in self.emu.plugins):
            self.emu.scheduler.forget(self.tenant)  # the tenant is nowhere else: its time starts again
        self.result.started_at = self._now()
        try:
            raw = self.loaded.model.model_dump(by_alias=True)["setup"]
            try:
                setup = self.hooks.setup_model.model_validate(self.ctx().render(raw))
            except ValidationError as exc:
                raise ScenarioError(first_error(exc)) from None
            variables = await self.hooks.apply_setup(self.ctx(), setup)
        except (ScenarioError, EmulatorError) as exc:
            message = exc.message if isinstance(exc, EmulatorError) else str(exc)
            self.result.status = "error"
            self.result.error = f"{self.loaded.source}:{self.loaded.line('setup') or 1}: setup: {message}"
            raise ScenarioError(self.result.error) from None
        self.variables.update(variables)
        self.result.variables = self.variables
        self.active = True
        self.result.active = True

    def start_background(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run_steps())

    async def wait(self, timeout: float) -> None:
        """Wait (wall time, bounded) until the steps running in the background have finished."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=timeout)

    async def stop(self) -> None:
        """Unload: the actors stop reacting and pending actor actions are cancelled."""
        self.active = False
        self.result.active = False
        for timer in list(self._timers):
            self.emu.scheduler.cancel(timer)
        self._timers.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            if self.result.status == "running":
                self.result.status = "failed"
                self.result.error = "unloaded before the steps finished"
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_steps(self) -> ScenarioResult:
        failed = False
        for i, step in enumerate(self.steps):
            r = self.result.steps[i]
            if failed:
                r.status = "skipped"
                continue
            r.status = "running"
            try:
                note = await self._run_step(i, step, r)
                r.status = "passed"
                r.message = note
            except ScenarioError as exc:
                r.status, r.message, failed = "failed", str(exc), True
            except SchedulerRunaway as exc:
                r.status, r.message, failed = "failed", f"the clock never goes idle: {exc}", True
            except Exception as exc:  # a bug must still give a report, not a traceback
                LOG.exception("scenario step failed unexpectedly")
                r.status, r.message, failed = "failed", f"internal error: {type(exc).__name__}: {exc}", True
            r.at = self._now()
        self._finish()
        return self.result

    def _finish(self) -> None:
        self._now()
        self.result.wall_seconds = wall_monotonic() - self._wall_started
        mine = self._deliveries()
        self.result.webhooks = len(mine)
        failed = any(s.status == "failed" for s in self.result.steps) or bool(self.result.actor_errors)
        self.result.status = "failed" if failed else "passed"

    # -- steps ----------------------------------------------------------------------------------------

    async def _run_step(self, i: int, step: BaseModel, r: StepResult) -> str | None:
        if isinstance(step, RequestStep):
            return await self._request(step, r)
        if isinstance(step, ExpectWebhookStep):
            return await self._expect_webhook(i, step, r)
        if isinstance(step, AdvanceStep):
            await self._advance(step.advance)
            return f"now {self.when(self._now())}"
        if isinstance(step, WaitUntilIdleStep):
            done = await self.emu.scheduler.run_until_idle(
                max_steps=step.wait_until_idle.max_steps, tenants=[self.tenant]
            )
            return f"{done.timers_run} timers; now {self.when(self._now())}"
        if isinstance(step, ActionBase):
            if step.after:
                await self._advance(step.after)
            action = self._render_action(step, self.ctx())
            await self._perform(action, None, self.ctx())
            return None
        kind = self.kinds.get(r.kind)
        if kind is None:
            raise ScenarioError(f"no runner for step kind {r.kind!r}")
        rendered = _rerender(step, self.ctx())
        return await kind.run(self.ctx(), rendered)

    async def _advance(self, seconds: float) -> None:
        if self.emu.clock.virtual:
            await self.emu.scheduler.advance(seconds, tenants=[self.tenant])
        else:
            await asyncio.sleep(seconds)  # the system clock: time passes for real

    async def _request(self, step: RequestStep, r: StepResult) -> str | None:
        ctx = self.ctx()
        spec = _rerender(step.request, ctx)
        assert isinstance(spec, RequestSpec)
        headers = {**self.hooks.request_headers(ctx), **spec.headers}
        kwargs: dict[str, Any] = {}
        if spec.json_body is not None:
            kwargs["json"] = spec.json_body
        elif spec.body is not None:
            kwargs["content"] = spec.body.encode()
        r.title = f"request {spec.method} {spec.path}"
        try:
            resp = await self.client.request(spec.method, spec.path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ScenarioError(f"{spec.method} {spec.path}: {type(exc).__name__}: {exc}") from None
        try:
            body: Any = resp.json() if resp.content else None
        except ValueError:
            body = resp.text
        r.title += f" -> {resp.status_code}"
        want = spec.expect.status
        ok = (
            200 <= resp.status_code < 300
            if want is None
            else resp.status_code in (want if isinstance(want, list) else [want])
        )
        problems = [] if ok else [f"status: expected {want if want is not None else '2xx'}, got {resp.status_code}"]
        if spec.expect.body is not None:
            problems += subset_mismatches(spec.expect.body, body)
        for name, value in spec.expect.headers.items():
            got = resp.headers.get(name)
            if got != value:
                problems.append(f"header {name}: expected {value!r}, got {got!r}")
        if problems:
            r.expected = spec.expect.model_dump(exclude_defaults=True)
            lines = [*problems[:8], f"response {resp.status_code}: {compact(body, 400)}"]
            raise ScenarioError("\n".join(lines))
        saved = self._save(spec.save, body)
        return saved.removeprefix("; ") or None

    def _save(self, save: Mapping[str, str], body: Any) -> str:
        for name, path in save.items():
            try:
                self.variables[name] = get_path(body, path)
            except ScenarioError as exc:
                raise ScenarioError(f"save {name} ({path}): {exc}") from None
            except ValueError as exc:
                raise ScenarioError(f"save {name}: {exc}") from None
        if not save:
            return ""
        return "; saved " + ", ".join(f"{k}={compact(self.variables[k], 40)}" for k in save)

    # -- expect_webhook -------------------------------------------------------------------------------

    def _deliveries(self) -> list[Delivery]:
        found = self.emu.dispatcher.deliveries(DeliveryFilter(vendor=self.vendor, tenant=self.tenant))
        return sorted(found, key=lambda d: d.seq)

    @staticmethod
    def _problems(d: Delivery, spec: ExpectWebhookSpec) -> list[str]:
        out: list[str] = []
        if spec.headers:
            sent = {k.lower(): v for k, v in (d.attempts[-1].headers if d.attempts else {}).items()}
            for name, value in spec.headers.items():
                got = sent.get(name.lower())
                if got != value:
                    out.append(f"header {name}: expected {value!r}, got {got!r}")
        return out + subset_mismatches(spec.match, d.payload())

    def _candidates(self, spec: ExpectWebhookSpec) -> list[Delivery]:
        use_cursor = spec.ordered and spec.count > 0
        return [
            d
            for d in self._deliveries()
            if d.status == "delivered" and d.id not in self.consumed and (not use_cursor or d.seq > self.cursor)
        ]

    def _hits(self, spec: ExpectWebhookSpec) -> list[Delivery]:
        return [d for d in self._candidates(spec) if not self._problems(d, spec)]

    async def _expect_webhook(self, i: int, step: ExpectWebhookStep, r: StepResult) -> str:
        spec = _rerender(step.expect_webhook, self.ctx())
        assert isinstance(spec, ExpectWebhookSpec)
        sched, mine = self.emu.scheduler, [self.tenant]
        deadline = self._now() + spec.within
        if self.emu.clock.virtual:
            if spec.count == 0:
                await sched.advance(spec.within, tenants=mine)
                hits = self._hits(spec)
            else:
                while True:
                    await sched.settle(mine)
                    hits = self._hits(spec)
                    if len(hits) >= spec.count:
                        break
                    now, nxt = self._now(), sched.next_due(mine)
                    if nxt is None or nxt > deadline:
                        if deadline > now:
                            await sched.advance(deadline - now, tenants=mine)
                        hits = self._hits(spec)
                        break
                    await sched.advance(max(0.0, nxt - now), tenants=mine)
        else:
            while True:
                hits = self._hits(spec)
                if spec.count and len(hits) >= spec.count:
                    break
                remaining = deadline - self._now()
                if remaining <= 0:
                    break
                await self._settled_change(remaining)
        now = self._now()
        if spec.count == 0:
            if hits:
                self._fail_expectation(r, spec, hits, unexpected=True)
            return f"none arrived by {self.when(now)}"
        if len(hits) < spec.count:
            self._fail_expectation(r, spec, hits, unexpected=False)
        taken = hits[: spec.count]
        for d in taken:
            self.consumed[d.id] = i
        if spec.ordered:
            self.cursor = max(self.cursor, *(d.seq for d in taken))
            self.cursor_step = i
        saved = self._save(spec.save, taken[0].payload())
        first, last = taken[0], taken[-1]
        what = f"{first.event_type} at {self.offset(self._sent_at(first))} ({first.id})"
        if len(taken) > 1:
            last_at = self.offset(self._sent_at(last))
            what = f"{len(taken)} x {first.event_type}, {first.id} .. {last.id}, the last at {last_at}"
        return what + saved

    @staticmethod
    def _sent_at(d: Delivery) -> float:
        return d.attempts[-1].at if d.attempts else d.created_at

    async def _settled_change(self, timeout: float) -> None:
        known = {d.id for d in self._deliveries() if d.status != "pending"}

        def fresh(d: Delivery) -> bool:
            return d.vendor == self.vendor and d.tenant == self.tenant and d.status != "pending" and d.id not in known

        await self.emu.dispatcher.wait(fresh, count=1, timeout=timeout)

    def _fail_expectation(
        self, r: StepResult, spec: ExpectWebhookSpec, hits: list[Delivery], *, unexpected: bool
    ) -> None:
        r.expected = spec.model_dump(exclude={"save"})
        everything = self._deliveries()
        now = self._now()
        if unexpected:
            r.near_misses = [self._near(d, [], "arrived, but none was expected") for d in hits[:MAX_NEAR_MISSES]]
            raise ScenarioError(
                f"{len(hits)} matching webhook(s) arrived within {spec.within:g}s where none may; "
                f"virtual time {self.when(now)}; {len(everything)} webhook(s) for this tenant"
            )
        hit_ids = {d.id for d in hits}
        scored: list[tuple[int, int, NearMiss]] = []
        for d in everything:
            if d.id in hit_ids:
                continue
            problems = self._problems(d, spec)
            note = None
            if d.id in self.consumed:
                note = f"already matched by steps[{self.consumed[d.id]}]"
            elif spec.ordered and d.seq <= self.cursor and not problems:
                note = f"sent before the webhook matched by steps[{self.cursor_step}] (ordered: set ordered: false)"
            elif d.status != "delivered":
                last = d.attempts[-1] if d.attempts else None
                why = (last.error or f"HTTP {last.status}") if last else "not attempted yet"
                note = f"{d.status}: {why}"
            scored.append((len(problems), d.seq, self._near(d, problems, note)))
        scored.sort(key=lambda x: (x[0], -x[1]))
        r.near_misses = [n for _, _, n in scored[:MAX_NEAR_MISSES]]
        raise ScenarioError(
            f"{len(hits)} of {spec.count} matching webhook(s) within {spec.within:g}s; "
            f"virtual time {self.when(now)}; {len(everything)} webhook(s) for this tenant"
        )

    def _near(self, d: Delivery, problems: list[str], note: str | None) -> NearMiss:
        return NearMiss(d.id, d.event_type, d.subject, d.status, self._sent_at(d), d.payload(), problems[:8], note)

    # -- actions and actors ---------------------------------------------------------------------------

    def _render_action(self, action: ActionBase, ctx: ScenarioContext) -> ActionBase:
        rendered = _rerender(action, ctx)
        assert isinstance(rendered, ActionBase)
        return rendered

    async def _perform(self, action: ActionBase, subject: str | None, ctx: ScenarioContext) -> None:
        try:
            with self.emu.feed.caused_by(self._acting(action, subject)):  # what the party does is caused by it
                await self.hooks.perform(ctx, action, subject)
        except EmulatorError as exc:
            raise ScenarioError(f"{action.describe()}: {exc.message}") from None

    def _acting(self, action: ActionBase, subject: str | None) -> Entry:
        """The feed's `action` entry for a simulated party acting (a step or an actor's action)."""
        data = action.model_dump(mode="json", exclude_none=True, exclude={"after"})
        key = action.kind_key()
        verb = str(data.pop(key))
        party = "agent" if verb.startswith("agent") else PARTIES.get(key)  # `{call: agent_answer}`: the agent
        return self.emu.feed.action(party, verb, self.vendor, self.tenant, subject, self._now(), actor=key, **data)

    def react(self, event: DomainEvent) -> None:
        """A committed event of the tenant: fire the matching rules (runs inside the commit: only schedules)."""
        if not self.active:
            return
        views: list[tuple[str, dict[str, Any]]] | None = None
        for i, rule in enumerate(self.rules):
            stat = self.result.actors[i]
            if rule.times is not None and stat.fired >= rule.times:
                continue
            name = rule.when.event
            if name == event.kind:
                bodies = [{"kind": event.kind, "subject": event.subject, "data": event.data}]
            else:
                if views is None:
                    views = self.hooks.event_views(event)
                bodies = [b for n, b in views if n == name]
            if not bodies:
                continue
            try:
                match = self.ctx({"subject": event.subject}).render(rule.when.match)
            except ScenarioError as exc:
                self._actor_error(i, -1, event.subject, f"when.match: {exc}")
                continue
            body = next((b for b in bodies if not subset_mismatches(match, b)), None)
            if body is None:
                continue
            stat.fired += 1
            self._schedule(i, 0, event.subject, {"event": body, "subject": event.subject})

    def _schedule(self, rule: int, j: int, subject: str, extra: dict[str, Any]) -> None:
        action: ActionBase = self.rules[rule].do[j]
        holder: list[Timer] = []

        def fire() -> Awaitable[None]:
            if holder:
                self._timers.discard(holder[0])
            return self._act(rule, j, subject, extra)

        timer = self.emu.scheduler.call_later(action.after, fire, vendor=self.vendor, tenant=self.tenant)
        holder.append(timer)
        self._timers.add(timer)

    async def _act(self, rule: int, j: int, subject: str, extra: dict[str, Any]) -> None:
        if not self.active:
            return
        do: list[ActionBase] = self.rules[rule].do
        ctx = self.ctx(extra)
        try:
            action = self._render_action(do[j], ctx)
            await self._perform(action, subject, ctx)
        except ScenarioError as exc:
            self._actor_error(rule, j, subject, str(exc))
            return
        except Exception as exc:
            LOG.exception("scenario actor action failed unexpectedly")
            self._actor_error(rule, j, subject, f"internal error: {type(exc).__name__}: {exc}")
            return
        if j + 1 < len(do):
            self._schedule(rule, j + 1, subject, extra)

    def _actor_error(self, rule: int, j: int, subject: str | None, message: str) -> None:
        line = self.loaded.line("actors", rule, "do", j) if j >= 0 else self.loaded.line("actors", rule, "when")
        self.result.actor_errors.append(ActorError(rule, j, line, self._now(), subject, message))
        if self.result.status == "passed":
            self.result.status = "failed"


def _rerender(model: BaseModel, ctx: ScenarioContext) -> BaseModel:
    """`model` with its `{{variables}}` filled in, validated again (a filled-in value may be invalid)."""
    raw = model.model_dump(by_alias=True, exclude_unset=False)
    rendered = ctx.render(raw)
    if rendered == raw:
        return model
    try:
        return type(model).model_validate(rendered)
    except ValidationError as exc:
        raise ScenarioError(f"after filling in variables: {first_error(exc)}") from None


# -- self-contained runs ----------------------------------------------------------------------------------
