"""The event stream's display mode (`GET /_emulator/events?latest=&interval=`, `Feed.latest`): at most the
newest N matching entries per write, the ones passed over announced by one `skipped` frame whose bounds and
count are exact, so a page that loads them through `/journal` ends with every entry once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.core.feed import Feed, Match
from tests.conftest import AppFactory
from tests.unit.test_feed import frames, items, journal, stream
from tests.unit.test_webhooks import app_emulator

# -- Feed.latest ----------------------------------------------------------------------------------------------


def feed_of(kinds: str, size: int = 100) -> Feed:
    """A feed with one entry per letter: r(equest), e(vent), d(elivery); tenants alternate a, b."""
    feed = Feed(size)
    names = {"r": "request", "e": "event", "d": "delivery"}
    for i, k in enumerate(kinds):
        feed.record(names[k], "T", "echo", "ab"[i % 2], None, None, 0.0, cause=None)
    return feed


def ids(entries: Any) -> list[int]:
    return [e.id for e in entries]


def test_latest_sends_the_newest_n_and_bounds_exactly_the_ones_it_passes_over() -> None:
    feed = feed_of("rederederede")  # ids 1..12

    found = feed.latest(None, 2, 3)

    assert ids(found.entries) == [10, 11, 12]
    assert found.skipped == (2, 10, 7)  # ids 3..9
    assert ids(feed.query(after=2, before=10, limit=0)) == list(range(3, 10))
    assert found.lost == 0
    assert found.through == 12


def test_latest_with_a_filter_counts_only_matching_entries_and_its_bounds_enclose_just_them() -> None:
    feed = feed_of("rederederede")  # events: 2 4 6 8 10 12; of tenant b: 2 4 6 8 10 12 too (even ids)
    match = Match(kinds="event", tenant="b")

    found = feed.latest(match.compiled(), 3, 2)

    assert ids(found.entries) == [10, 12]
    assert found.skipped == (3, 9, 3)  # 4, 6, 8
    assert ids(feed.query(match, after=3, before=9, limit=0)) == [4, 6, 8]


def test_latest_with_nothing_to_pass_over_has_no_skipped_range() -> None:
    feed = feed_of("rede")

    assert feed.latest(None, 1, 5).skipped is None
    assert ids(feed.latest(None, 1, 5).entries) == [2, 3, 4]
    assert feed.latest(None, 4, 5).entries == []
    assert feed.latest(Match(kinds="attempt").compiled(), 0, 5).entries == []


def test_latest_after_evicted_entries_says_how_many_are_lost() -> None:
    feed = feed_of("rederederede", size=4)  # 9..12 kept

    found = feed.latest(None, 5, 2)

    assert found.lost == 3  # 6, 7, 8
    assert ids(found.entries) == [11, 12]
    assert found.skipped == (8, 11, 2)


def test_a_compiled_match_agrees_with_the_match() -> None:
    feed = feed_of("rederederede")
    for match in [
        Match(),
        Match(kinds="event"),
        Match(tenant="a"),
        Match(vendor="echo", kinds=["event", "request"]),
        Match(vendor="other"),
        Match(kinds=["request", "control", "event", "delivery", "attempt", "timer", "action"]),
        Match(type_="T", tenant="b", kinds="event"),
    ]:
        test = match.compiled()
        assert [e.id for e in feed.entries() if test is None or test(e)] == [e.id for e in feed.entries() if match(e)]


# -- GET /_emulator/events in display mode ---------------------------------------------------------------------


def parsed(raw: bytes) -> tuple[list[int], list[dict[str, int]]]:
    """The ids of the entries a display stream sent, and its skipped frames."""
    sent, skipped = [], []
    for f in frames(raw):
        if f["event"] == "skipped":
            assert "id" not in f  # a reader's last id stays the last entry it got
            skipped.append(json.loads(f["data"]))
        else:
            assert json.loads(f["data"])["id"] == int(f["id"])
            sent.append(int(f["id"]))
    return sent, skipped


async def test_a_burst_is_sent_as_its_newest_n_and_one_skipped_frame_the_page_loads_the_rest_from(
    make_app: AppFactory,
) -> None:
    emu, client = await app_emulator(make_app)
    await items(client, "a", 50)  # ids 1..100

    raw = await stream(client, after=0, latest=10, interval=0.05, limit=10)
    assert emu.feed.listener_count == 0  # counted out once it ended

    sent, skipped = parsed(raw)
    assert sent == list(range(91, 101))
    assert skipped == [{"after": 0, "before": 91, "count": 90}]
    loaded = [e["id"] for e in await journal(client, after=0, before=91, limit=1000)]
    assert sorted(loaded + sent) == list(range(1, 101))
    assert len(loaded) == 90


async def test_filters_apply_to_the_entries_and_to_the_skipped_count(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    for _ in range(10):
        await items(client, "a", 1)
        await items(client, "b", 1)  # b's events: 4, 8, ..., 40

    raw = await stream(client, after=0, tenant="b", kind="event", latest=3, limit=3)

    sent, skipped = parsed(raw)
    assert sent == [32, 36, 40]
    assert skipped == [{"after": 3, "before": 29, "count": 7}]
    loaded = await journal(client, tenant="b", kind="event", after=3, before=29)
    assert [e["id"] for e in loaded] == [4, 8, 12, 16, 20, 24, 28]


async def test_resuming_a_display_stream_starts_after_the_last_id_and_never_repeats_an_entry(
    make_app: AppFactory,
) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 5)  # ids 1..10
    first, _ = parsed(await stream(client, after=0, latest=4, limit=4))
    await items(client, "a", 5)  # ids 11..20

    again, skipped = parsed(await stream(client, {"last-event-id": str(first[-1])}, latest=4, limit=4))

    assert first == [7, 8, 9, 10]
    assert again == [17, 18, 19, 20]
    assert skipped == [{"after": 10, "before": 17, "count": 6}]


async def test_interval_alone_turns_the_display_mode_on_with_the_default_latest(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 60)  # ids 1..120

    sent, skipped = parsed(await stream(client, after=0, interval=0.05, limit=100))

    assert sent == list(range(21, 121))
    assert skipped == [{"after": 0, "before": 21, "count": 20}]


async def test_a_display_stream_after_evictions_says_what_is_lost_then_what_it_skipped(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app, feed_size=10)
    await items(client, "a", 10)  # ids 1..20, 11..20 kept

    raw = await stream(client, after=4, latest=2, limit=2)

    got = frames(raw)
    assert [f["event"] for f in got] == ["gap", "skipped", "request", "event"]
    assert json.loads(got[0]["data"]) == {"after": 4, "lost": 6, "oldest": 11}
    assert json.loads(got[1]["data"]) == {"after": 10, "before": 19, "count": 8}
    assert [f["id"] for f in got[2:]] == ["19", "20"]


async def test_an_idle_display_stream_ends_after_timeout(make_app: AppFactory) -> None:
    _emu, client = await app_emulator(make_app)
    await items(client, "a", 1)

    raw = await stream(client, latest=5, interval=0.05, timeout=0.1)

    assert raw == b": cxemu event stream (display mode)\n\n"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"latest": "0"}, "latest: must be between 1 and 1000"),
        ({"latest": "1001"}, "latest: must be between 1 and 1000"),
        ({"latest": "many"}, "latest: must be an integer"),
        ({"interval": "0.01"}, "interval: must be between 0.05 and 60"),
        ({"interval": "61"}, "interval: must be between 0.05 and 60"),
        ({"interval": "nan"}, "interval"),
        ({"latest": "5", "kind": "nope"}, "kind: 'nope'"),
    ],
    ids=["latest-0", "latest-over", "latest-text", "interval-small", "interval-over", "interval-nan", "kind"],
)
async def test_bad_display_queries_are_400_and_open_nothing(
    make_app: AppFactory, params: dict[str, str], message: str
) -> None:
    emu, client = await app_emulator(make_app)
    r = await client.get("/_emulator/events", params=params)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert message in r.json()["message"]
    assert emu.feed.listener_count == 0


async def test_display_streams_count_against_the_stream_cap(make_app: AppFactory) -> None:
    emu, client = await app_emulator(make_app, event_listeners=1)
    emu.feed.open_display()  # one display stream open

    r = await client.get("/_emulator/events", params={"latest": 5})
    lossless = await client.get("/_emulator/events")

    assert (r.status_code, lossless.status_code) == (503, 503)
    assert r.json() == {
        "error": "too_many_listeners",
        "message": "1 event streams are open, the most allowed (event_listeners)",
    }
    emu.feed.close_display()
    assert emu.feed.listener_count == 0
