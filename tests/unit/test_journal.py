"""The request journal's entries (`core.journal`): what one keeps of a request, its JSON and its state-file form,
whether a journal recorded it or the feed built it without one (`journal_entry`)."""

from __future__ import annotations

from emulator.core.journal import BODY_BYTES, HEADER_BYTES, Journal, JournalEntry, journal_entry

HEADERS = [(b"host", b"127.0.0.1:8080"), (b"x-api-key", b"k\xe9y"), (b"content-type", b"application/json")]


def test_an_entry_is_the_same_fields_json_and_saved_form_from_the_journal_or_without_one() -> None:
    journal = Journal(size=2)
    args = (1.5, "eightbyeight", "acme", "POST", "/x/messages", b"a=1", HEADERS, b'{"text":"hi"}', 202, 1.23456)
    kept = journal.record(*args)
    assert kept == journal_entry(1, *args)
    assert (kept.seq, kept.tenant, kept.size, kept.status, kept.headers) == (1, "acme", 13, 202, HEADERS)
    assert kept.to_json() == {
        "seq": 1,
        "at": 1.5,
        "vendor": "eightbyeight",
        "tenant": "acme",
        "method": "POST",
        "path": "/x/messages",
        "query": "a=1",
        "headers": {"host": "127.0.0.1:8080", "x-api-key": "k\xe9y", "content-type": "application/json"},
        "body": {"text": "hi"},
        "size": 13,
        "truncated": False,
        "status": 202,
        "latency_ms": 1.235,
    }
    saved = kept.persist()
    assert saved["headers"] == [[k.decode("latin-1"), v.decode("latin-1")] for k, v in HEADERS]
    assert JournalEntry.restored(saved) == kept
    assert type(JournalEntry.restored(saved)) is JournalEntry


def test_the_journal_keeps_an_excerpt_of_a_big_request_and_its_newest_entries() -> None:
    journal = Journal(size=2)
    many = [(b"x-h%d" % n, b"v" * 200) for n in range(60)]
    body = b"b" * (BODY_BYTES + 10)
    for n in range(3):
        journal.record(float(n), "echo", None, "PUT", f"/p/{n}", b"", many, body, 200, 0.0)
    first, last = journal.entries()
    assert (first.seq, last.seq, journal.last_seq, len(journal)) == (2, 3, 3, 2)
    assert (len(last.body), last.size) == (BODY_BYTES, BODY_BYTES + 10)
    assert last.to_json()["truncated"] is True
    assert sum(len(k) + len(v) for k, v in last.headers) <= HEADER_BYTES < sum(len(k) + len(v) for k, v in many)
    assert [e.path for e in journal.query(path="/p/2")] == ["/p/2"]
