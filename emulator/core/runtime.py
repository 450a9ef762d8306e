"""The Emulator: the kernel's services wired together for one server (or one test).

It owns the clock, scheduler, store, event bus, journal, feed and webhook dispatcher, and the vendor plugins
that use them. `create_app` builds one and mounts its routes; tests may build one directly.

With a state file (`core.durable`), `load_state` reads and checks it before the server starts (the CLI
calls it, so a bad file stops the start with one line), `start` restores it (recovering from an unclean
stop: a new id epoch, deliveries re-sent as retries) and starts the periodic saver, `stop` writes the
final, clean file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from emulator.core import durable
from emulator.core.bigwork import SLICE_ITEMS, Slicer, collector_paused
from emulator.core.clock import Clock, Scheduler, SystemClock, VirtualClock
from emulator.core.errors import ConfigError
from emulator.core.events import DomainEvent, EventBus
from emulator.core.feed import CAUSE, DeliveryEntries, Feed, event_data, timer_entries
from emulator.core.ids import EPOCH_SPAN, TenantIds
from emulator.core.journal import Journal, JournalEntry
from emulator.core.outbound import Guard
from emulator.core.plugin import VendorPlugin
from emulator.core.redact import redact_attempt
from emulator.core.retention import Retainer
from emulator.core.settings import Settings, vendor_config_error
from emulator.core.sink import PREFIX as SINK_PREFIX
from emulator.core.sink import Sink, loopback_url
from emulator.core.store import Slot, Store, Tx, open_store
from emulator.core.webhooks import WebhookDispatcher, WebhookPolicy

if TYPE_CHECKING:
    from emulator.core.fleet import Fleet
    from emulator.core.fleetfeed import FleetFeed
    from emulator.core.redisruntime import RedisRuntime

LOG = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1

ResetHook = Callable[[str | None, str | None], None]
"""`hook(vendor, tenant)`: forget what belongs to the matching tenants (None matches every one)."""


class Emulator:
    """Kernel services plus the vendor plugins; see the module docstring."""

    def __init__(self, settings: Settings, plugins: Iterable[VendorPlugin]) -> None:
        self.settings = settings
        self.clock: Clock = VirtualClock(settings.virtual_start) if settings.clock == "virtual" else SystemClock()
        self.scheduler = Scheduler(self.clock)
        self.store: Store = open_store(settings.state, settings.seed, self.clock, clock_of=self.scheduler.clock_of)
        """The tenants' state: in memory, or in Redis (`--state redis://`, `core.redisstore`)."""
        self.bus = EventBus()
        self.feed = Feed(settings.feed_size, listener_limit=settings.event_listeners)
        """Everything that happens, numbered, with causes (`core.feed`): `/_emulator/journal` and `/events`."""
        self.journal: Journal | None = Journal(settings.journal_size) if settings.journal_size else None
        self.dispatcher = WebhookDispatcher(
            self.scheduler,
            seed=settings.seed,
            log_size=settings.delivery_log_size,
            max_concurrency=settings.webhook_concurrency,
            per_tenant=settings.webhook_concurrency_per_tenant,
            per_target=settings.webhook_concurrency_per_target,
            pending_limit=settings.webhook_pending_limit,
            pending_per_tenant=settings.webhook_pending_per_tenant,
            guard=Guard.for_server(settings.host, settings.webhook_allow_hosts, settings.allow_private_targets),
            verify_tls=settings.webhook_tls_verify,
        )
        self.dispatcher.set_chaos(settings.chaos)
        redact = None if settings.admin_token is None else self._redact_delivery_entry
        deliveries = DeliveryEntries(self.feed, redact=redact)
        self.dispatcher.delivery_listeners.append(deliveries.delivery)
        self.dispatcher.attempt_listeners.append(deliveries.attempt)
        self.scheduler.firing = timer_entries(self.feed)
        self.runtime: RedisRuntime | None = None
        """A Redis-backed server's timers, deliveries, delivery log and outbox, kept in Redis (`core.redisruntime`)."""
        self.adopt_all = True
        """Whether `start` adopts every stored tenant (one server; a fleet adopts the tenants it claims instead)."""
        if self.store.shared:
            self._durable_runtime()
        self.plugins: dict[str, VendorPlugin] = {}
        self._vendor_config: dict[str, Any] = {}
        self.retainer = Retainer(self)
        """Evicts ended conversations, chats and calls past their vendor's retention (`core.retention`)."""
        for plugin in plugins:
            self._add(plugin)
        self.store.on_commit(self._commit)
        self.store.on_commit(self.retainer.after)
        self.bus.subscribe(self._to_vendor)
        self.reset_hooks: list[ResetHook] = []
        """Told of every `reset(vendor, tenant)` after the kernel's own (the sink forgets what it received)."""
        base = loopback_url(settings.host, settings.port)
        self.sink = Sink(
            self.clock, size=settings.sink_size, base_url=base, vendors=self.plugins, now_of=self.scheduler.now
        )
        """The built-in webhook sink: in-process until `sink.listening` tells it the server's bound address."""
        self.dispatcher.local(f"{base}{SINK_PREFIX}/", self.sink.post)
        self.reset_hooks.append(self.sink.reset)
        self.reset_hooks.append(self.retainer.reset)
        self.started = False
        self.save_error: str | None = None
        """Why the state file could not be saved at shutdown (the command then exits 1)."""
        self.saver: durable.StateSaver | None = None
        """Saves the state file while the server runs (`--state-file`), made by `start`."""
        self._loaded: _Prepared | None = None
        self._timelines: dict[str, float] | None = None
        """Where the tenants of a shared store stood at their last commit (read by `load_state`)."""
        self.fleet_feed: FleetFeed | None = None
        """In a fleet: this worker's feed mirrored into the fleet's one stream, which `/journal` and `/events`
        read (`core.fleetfeed`)."""
        self.fleet: Fleet | None = None
        """With a shared store: this worker's membership of the fleet, its tenant leases and forwarding
        (`core.fleet`); every tenant is served by the one worker that owns it."""
        if self.store.shared:
            from emulator.core.fleet import Fleet  # imports redis-py: only with a shared store

            self.fleet = Fleet(self, settings.state, settings.lease_ttl, settings.advertise)
            self.adopt_all = False  # each worker adopts the tenants it claims
            if settings.feed_size:
                from emulator.core.fleetfeed import FleetFeed

                self.fleet_feed = FleetFeed(self.feed, settings.state)
                self.fleet_feed.install()

    # -- plugins --------------------------------------------------------------------------------------

    def _add(self, plugin: VendorPlugin) -> None:
        if plugin.slug in self.plugins:
            raise ConfigError(f"plugins: vendor {plugin.slug!r} is registered twice")
        self.plugins[plugin.slug] = plugin
        raw = self.settings.vendors.get(plugin.slug, {})
        if plugin.config_model is not None:
            try:
                self._vendor_config[plugin.slug] = plugin.config_model.model_validate(raw)
            except ValidationError as exc:
                raise vendor_config_error(self.settings, plugin.slug, plugin.config_model, exc) from None
        else:
            self._vendor_config[plugin.slug] = raw

        def factory(tenant: str, ids: TenantIds, plugin: VendorPlugin = plugin) -> BaseModel:
            return plugin.new_state(self, tenant, ids)

        self.store.register(plugin.slug, plugin.state_type, factory)
        self.retainer.register(plugin.slug, plugin.retained)
        policy = plugin.webhook_policy(self) if plugin.webhook_policy else WebhookPolicy()
        overrides = self.settings.webhooks.get(plugin.slug)
        if overrides is not None:
            if overrides.retry_ladder is not None:
                policy.retry_ladder = overrides.retry_ladder
                policy.ladder_for = None
            if overrides.timeout is not None:
                policy.timeout = overrides.timeout
        self.dispatcher.register(plugin.slug, policy)
        if plugin.jobs is not None:
            for kind, handler in plugin.jobs(self).items():
                self.scheduler.register_job(kind, handler)

    async def provision(self, slug: str, tenant: str) -> dict[str, Any]:
        """Create the tenant if needed, mark it provisioned and return its credentials (`POST /tenants`).

        A plugin's own `provision` hook (the older form) wins; without `credentials` the answer is `{}`."""
        plugin = self.plugins[slug]
        if plugin.provision is not None:
            return await plugin.provision(self, tenant)
        async with self.store.tenant(slug, tenant) as tx:
            creds = plugin.credentials(self, tx) if plugin.credentials is not None else {}
        self.store.mark_provisioned(slug, tenant)
        return creds

    def vendor_config(self, slug: str) -> Any:
        """The validated `vendors.<slug>` section of the config (the vendor's config model, or a dict)."""
        return self._vendor_config[slug]

    def _redact_delivery_entry(self, vendor: str, data: dict[str, Any]) -> dict[str, Any]:
        """A `delivery` or `attempt` entry's data (its url, the headers sent) with the vendor's credentials masked."""
        return redact_attempt(data, self.plugins.get(vendor))

    def knows(self, slug: str, tenant: str) -> bool:
        """Whether a vendor's tenant has state or is configured (`vendors.<slug>.tenants`; a configured tenant
        is built on first use), so the control plane may act on it."""
        if self.store.exists(slug, tenant):
            return True
        cfg = self._vendor_config.get(slug)
        tenants = cfg.get("tenants") if isinstance(cfg, dict) else getattr(cfg, "tenants", None)
        return isinstance(tenants, Mapping) and tenant in tenants

    def _durable_runtime(self) -> None:
        from emulator.core.redisruntime import RedisRuntime  # imports redis-py: only with a Redis store

        runtime = RedisRuntime(
            getattr(self.store, "url", ""),
            self.scheduler,
            self.dispatcher,
            self.store,
            log_size=self.settings.delivery_log_size,
        )
        self.runtime = runtime
        self.dispatcher.durable = runtime
        self.scheduler.durable = runtime

        def outbox(tx: Tx[Any]) -> str | None:
            plugin = self.plugins.get(tx.vendor)
            return runtime.outbox(tx, plugin.outbound if plugin is not None else None)

        self.store.outbox = outbox

    async def adopt(self, tenant: str) -> dict[str, int]:
        """Take a tenant on in this process from Redis: its state (a store that loads tenants one by one), then its
        timeline, jobs, deliveries, log and outbox (`RedisRuntime.adopt`); what was found."""
        load = getattr(self.store, "load_tenant", None)
        if load is not None:
            await load(tenant)
        return await self.runtime.adopt(tenant) if self.runtime is not None else {}

    def drop(self, tenant: str) -> None:
        """Forget a tenant in this process without writing anything (another process owns it now)."""
        if self.runtime is not None:
            self.runtime.drop(tenant)
        else:
            self.scheduler.cancel_tagged(None, tenant)
            self.scheduler.forget(tenant)
            self.dispatcher.reset(None, tenant)
            self.store.forget(tenant)

    # -- commit path ----------------------------------------------------------------------------------

    def _commit(self, tx: Tx[Any]) -> None:
        plugin = self.plugins.get(tx.vendor)
        translate = plugin.outbound if plugin is not None else None
        record = self.feed.record
        entry = None
        made = tx.outboxed  # (outbox entry, webhooks per event) when the store's outbox worked them out already
        for i, event in enumerate(tx.events):
            entry = record(
                "event", event.kind, event.vendor, event.tenant, event.subject, "cxemu", event.at, event, event_data
            )
            token = CAUSE.set(entry)  # what the event leads to is caused by it
            try:
                self.bus.publish(event)
                if made is not None:
                    for outbound in made[1][i]:
                        self.dispatcher.submit(tx.vendor, tx.tenant, outbound)
                elif translate is not None:
                    for outbound in translate(tx, event):
                        self.dispatcher.submit(tx.vendor, tx.tenant, outbound)
            finally:
                CAUSE.reset(token)
        if tx.outbound:  # webhooks a transaction sends itself: caused by its last event, when it has one
            sent = CAUSE.set(entry) if entry is not None else None
            try:
                for outbound in tx.outbound:
                    self.dispatcher.submit(tx.vendor, tx.tenant, outbound)
            finally:
                if sent is not None:
                    CAUSE.reset(sent)
        if made is not None and made[0] is not None and self.runtime is not None:
            self.runtime.cleared(tx.tenant, made[0])

    def _to_vendor(self, event: DomainEvent) -> None:
        plugin = self.plugins.get(event.vendor)
        if plugin is not None and plugin.on_event is not None:
            plugin.on_event(self, event)

    # -- lifecycle ------------------------------------------------------------------------------------

    def load_state(self) -> None:
        """Read and check the state file, if there is one to restore (not with `state_reset`), for `start` to
        apply; a `ConfigError` of one line if it cannot be restored. A shared store (Redis) reads its tenants
        here. Needs no event loop."""
        if self._timelines is None:
            self._timelines = self.store.load()
        path = self.settings.state_file
        if path is None or self.settings.state_reset or self._loaded is not None or not path.exists():
            return
        loaded = durable.read_state_file(path)
        try:
            self._loaded = self._prepare(loaded.snapshot, loaded.section)
        except (KeyError, TypeError, ValueError) as exc:  # ValidationError is a ValueError
            raise durable.state_error(path, exc) from None

    async def start(self) -> None:
        if self.started:
            return
        self.started = True
        path = self.settings.state_file
        self.load_state()
        if self._loaded is not None:
            self._apply(self._loaded)
            LOG.info("restored state from %s%s", path, " (after an unclean stop)" if self._loaded.unclean else "")
            self._loaded = None
        elif path is not None and self.settings.state_reset and path.exists():
            LOG.warning("state file %s: not restored (--state-reset); the next save replaces it", path)
        if self._timelines:  # a shared store's tenants go on from where their time stood
            self.scheduler.restore_timelines(self._timelines)
            self._timelines = {}
        if self.fleet is not None:
            await self.fleet.start()
            for tenant in sorted({t for _, t in self.store.tenants()}):  # nobody's: claimed, so their timers go on
                if not await self.fleet.claim_free(tenant):
                    self.store.forget(tenant)  # another live worker's: served there
        if self.runtime is not None and self.adopt_all:  # one server on Redis: every stored tenant goes on
            for tenant in sorted({t for _, t in self.store.tenants()}):
                await self.runtime.adopt(tenant)
        for plugin in self.plugins.values():
            if plugin.on_start is not None:
                await plugin.on_start(self)
        if path is not None:
            self.saver = durable.StateSaver(path, self.settings.state_save_interval, self.file_data, self._fingerprint)
            await self.saver.save(running=True)  # from now on a crash is seen at the next start
            self.saver.start()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        left = await self.dispatcher.drain(self.settings.drain_timeout)
        if self.saver is not None:
            self.save_error = await self.saver.close()
            if self.save_error is None:
                LOG.info("saved state to %s (%d webhooks pending)", self.saver.path, left)
        elif left:
            LOG.warning("%d webhook deliveries were still pending at shutdown", left)
        await self.dispatcher.close()
        if self.runtime is not None:
            await self.runtime.close()  # what is marked is written before the leases go
        if self.fleet_feed is not None:
            await self.fleet_feed.close()
        if self.fleet is not None:
            await self.fleet.stop()
        await self.store.close()

    # -- reset, snapshot, restore ---------------------------------------------------------------------

    def reset(self, vendor: str | None = None, tenant: str | None = None) -> list[tuple[str, str]]:
        """Drop the matching tenants' state, timers, deliveries, journal and feed entries (None matches all), then
        run the `reset_hooks`."""
        if self.runtime is not None:
            named = {t for _, t in self.store.tenants(vendor)} | set(self.scheduler.tenants())
            named |= {d.tenant for d in self.dispatcher.deliveries()} | set(self.dispatcher.tenant_chaos)
            doomed = sorted(named if tenant is None else named & {tenant})
        dropped = self.store.reset(vendor, tenant)
        self.scheduler.cancel_tagged(vendor, tenant)
        if vendor is None:  # every vendor's state of the tenant(s) is gone: their time starts again
            self.scheduler.forget(tenant)
        self.dispatcher.reset(vendor, tenant)
        if self.journal is not None:
            self.journal.reset(vendor, tenant)
        self._forget_events(vendor, tenant)
        self.feed.forget(vendor, tenant)
        for hook in self.reset_hooks:
            hook(vendor, tenant)
        if self.runtime is not None:
            self.runtime.reset(doomed, vendor)
        return dropped

    def _forget_events(self, vendor: str | None, tenant: str | None) -> None:
        """The event bus's recent history keeps no event of a reset tenant (its memory goes with the tenant)."""
        recent = self.bus.recent
        kept = [
            e
            for e in recent
            if (vendor is not None and e.vendor != vendor) or (tenant is not None and e.tenant != tenant)
        ]
        if len(kept) != len(recent):
            recent.clear()
            recent.extend(kept)

    def snapshot(self) -> dict[str, Any]:
        return self.snapshot_frame(self.store.snapshot())

    def snapshot_frame(self, store: Any) -> dict[str, Any]:
        """The snapshot with `store` in place of the tenants' state (`core.bigwork` streams the tenants itself)."""
        out = {
            "version": SNAPSHOT_VERSION,
            "seed": self.store.seed,
            "clock": {"mode": "virtual" if self.clock.virtual else "system", "now": self.clock.now()},
            "store": store,
            "timelines": self.scheduler.timelines(),
            "jobs": self.scheduler.snapshot(),
            "deliveries": self.dispatcher.snapshot(),
        }
        if self.store.epoch:
            out["epoch"] = self.store.epoch
        return out

    def file_data(self, running: bool) -> Callable[[], dict[str, Any]]:
        """What the state file holds (`core.durable`): taken now, on the event loop; the function returned builds
        the file's JSON from it in the saver's worker thread (journal entries and settled deliveries no longer
        change)."""
        snapshot = self.snapshot()
        settled = self.dispatcher.settled()
        journal = self.journal.entries() if self.journal is not None else []
        feed = self.feed.last_id

        def build() -> dict[str, Any]:
            log = [d.persist() for d in settled]
            section = {"running": running, "journal": [e.persist() for e in journal], "log": log, "feed": feed}
            return {**snapshot, durable.SECTION: section}

        return build

    def _fingerprint(self) -> object:
        """Changes whenever something the state file holds does (the saver skips a save otherwise)."""
        journal = self.journal.last_seq if self.journal is not None else 0
        now = self.clock.now() if self.clock.virtual else None
        moved = (self.store.writes, self.store.epoch, self.dispatcher.changes, self.feed.last_id, self.scheduler.moves)
        return (*moved, journal, now)

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the state with a snapshot's (`POST /_emulator/state`); raises before changing anything."""
        self._apply(self._prepare(data))

    async def restore_sliced(self, data: dict[str, Any], slicer: Slicer | None = None) -> None:
        """`restore`, with the tenants validated a slice at a time (`core.bigwork`): other tenants are served
        meanwhile, and the state is swapped in one step at the end. Raises before changing anything."""
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ConfigError(f"snapshot: version must be {SNAPSHOT_VERSION}")
        slicer = slicer or Slicer()
        slots: dict[tuple[str, str], Slot] = {}
        with collector_paused():
            for vendor, tenants in data.get("store", {}).items():
                state_type = self.store.state_type(vendor)
                if state_type is None:
                    continue
                for tenant, entry in tenants.items():
                    slots[(vendor, tenant)] = self.store.parse_entry(state_type, entry)
                    await slicer.tick()
            previous = list(self.store.live().values())  # (one pass in C: not a Python step per tenant)
            self._apply(_Prepared(data, slots, None, []))
            while previous:  # the state replaced is freed a slice at a time too
                del previous[-SLICE_ITEMS:]
                await slicer.tick()

    def _prepare(self, data: dict[str, Any], section: durable.DurableSection | None = None) -> _Prepared:
        """Check everything that can be checked before changing anything (and before an event loop runs)."""
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ConfigError(f"snapshot: version must be {SNAPSHOT_VERSION}")
        slots = self.store.parse(data.get("store", {}))  # validates every slot
        journal = [JournalEntry.restored(e) for e in section.journal] if section is not None else []
        return _Prepared(data, slots, section, journal)

    def _apply(self, prepared: _Prepared) -> None:
        data, section = prepared.data, prepared.section
        seed = int(data.get("seed", self.store.seed))
        stored = {t for v in self.plugins for t in self.store.known(v)} if self.runtime is not None else set()
        self.store.replace(prepared.slots)
        self.store.epoch = int(data.get("epoch", 0)) + (1 if prepared.unclean else 0)
        if seed != self.store.seed:
            LOG.warning("snapshot seed %s differs from --seed %s; using the snapshot's", seed, self.store.seed)
            self.store.seed = seed
            self.dispatcher.seed = seed  # chaos decisions follow the snapshot's seed too
        clock = data.get("clock", {})
        if isinstance(self.clock, VirtualClock) and clock.get("mode") == "virtual":
            self.clock.set(max(self.clock.now(), float(clock["now"])))
        if self.runtime is not None:  # what Redis holds of the tenants' runtime goes; the snapshot's is written
            gone = stored | {t for _, t in self.store.tenants()} | set(self.scheduler.tenants())  # a fleet: all
            gone |= set(self.dispatcher.tenant_chaos)  # a tenant's own faults go too, in Redis as here
            self.runtime.reset(sorted(gone | {d.tenant for d in self.dispatcher.deliveries()}), None)
        self.scheduler.cancel_tagged()
        self.retainer.reset()
        self.scheduler.restore_timelines(_timelines(data))
        self.dispatcher.reset()
        self.scheduler.restore(list(data.get("jobs", [])))
        self.dispatcher.restore(data.get("deliveries", {}))
        if self.fleet is not None and self.runtime is not None:  # tenants this worker does not hold: written, not run
            named = {t for _, t in self.store.tenants()} | set(self.scheduler.tenants()) | gone
            named |= {d.tenant for d in self.dispatcher.deliveries()}
            leases: dict[str, str | None] = getattr(self.store, "leases", dict.fromkeys)(sorted(named))
            owned = self.fleet.owned  # one whose lease another took meanwhile (stalled past its ttl) is held too
            self.runtime.hold(sorted(t for t, lease in leases.items() if lease is None or owned.get(t) != lease))
        if section is None:
            return
        self.dispatcher.restore_log(section.log)
        if self.journal is not None:
            self.journal.replace(prepared.journal)
        self.feed.restart_after(section.feed)
        if prepared.unclean:
            self.dispatcher.mark_uncertain(self.clock.now(), durable.UNCERTAIN)
            self.dispatcher.skip_seq(self.dispatcher.next_seq + EPOCH_SPAN)
            if self.journal is not None:
                self.journal.skip_seq(EPOCH_SPAN)
            self.feed.skip(EPOCH_SPAN)


def _timelines(data: Mapping[str, Any]) -> dict[str, float]:
    """Each tenant's time in a snapshot. One from before per-tenant time has a single clock: every tenant it
    names (state, jobs, deliveries) stood at its `now`."""
    saved = data.get("timelines")
    if saved is not None:
        return {str(t): float(now) for t, now in saved.items()}
    clock = data.get("clock") or {}
    if clock.get("mode") != "virtual":
        return {}
    named = {t for tenants in (data.get("store") or {}).values() for t in tenants}
    named |= {j["tenant"] for j in data.get("jobs") or []}
    named |= {d["tenant"] for d in (data.get("deliveries") or {}).get("pending") or []}
    return dict.fromkeys(sorted(named), float(clock["now"]))


@dataclass
class _Prepared:
    """A snapshot checked by `Emulator._prepare`, ready to apply; `section` only when it comes from a state file."""

    data: dict[str, Any]
    slots: dict[tuple[str, str], Slot]
    section: durable.DurableSection | None
    journal: list[JournalEntry]

    @property
    def unclean(self) -> bool:
        """The file was saved by a server that then stopped without its final save."""
        return self.section is not None and self.section.running
