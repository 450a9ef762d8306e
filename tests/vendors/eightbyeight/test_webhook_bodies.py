"""8x8's webhook bodies (`delivery.body_bytes`, both policies' serializer): the bytes the kernel's `compact_json`
writes, and what it raises, for every body `events.payloads` builds (v1 and legacy, with the texts that lead orjson's
output astray) and for seeded random documents (`tests/vendors/cmcom/test_webhook_bodies.py`'s generator)."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any, cast

import pytest

from emulator.core.events import DomainEvent
from emulator.core.webhooks import compact_json
from emulator.vendors.eightbyeight import delivery
from emulator.vendors.eightbyeight.delivery import body_bytes
from emulator.vendors.eightbyeight.events import payloads
from tests.vendors.cmcom.test_webhook_bodies import TEXTS, a_value, outcome


def events(text: str, at: float) -> list[DomainEvent]:
    message = {"isEcho": True, "sender": {"id": "x7xPKaUgkKew7N3TIea8POD8", "type": "user"}, "text": text,
               "attachments": [], "cards": [{"id": "c", "content": {"n": None}}]}  # fmt: skip
    agent = {"sender": {"id": "ag-1", "type": "agent"}, "text": text, "attachments": [], "cards": []}
    made: list[tuple[str, dict[str, Any]]] = [
        ("conversation.created", {"state": "ACTIVE", "channelId": text}),
        ("conversation.queued", {"queueId": "q-1", "position": 1}),
        ("member.joined", {"memberType": "agent", "id": "ag-1", "name": text}),
        ("member.left", {"memberType": "user", "id": "u-1", "name": None}),
        ("message.created", {"message": message, "deliver": True}),
        ("message.created", {"message": agent, "deliver": True, "agentName": text}),
        ("activity", {"name": "typing", "value": {"text": text}}),
        ("conversation.transferred", {}),
        ("webhook.verify", {"uri": "http://x", "version": "v"}),
    ]
    return [DomainEvent("eightbyeight", "t", kind, "eFhFTRNVkWtkXJePYgRN2g", at, data) for kind, data in made]


@pytest.mark.parametrize("legacy", [False, True], ids=["v1", "legacy"])
def test_every_body_8x8_builds_is_written_as_compact_json_writes_it(legacy: bool) -> None:
    seen = 0
    for text in [*TEXTS, "hi", "null", "1e-05", ""]:
        for at in (1_767_225_600.25, 1_767_225_600.0000001, 0.0):
            for event in events(text, at):
                for _, body in payloads(event, legacy=legacy):
                    assert body_bytes(body) == compact_json(body), body
                    seen += 1
    assert seen > 100


@pytest.mark.parametrize("seed", range(2))
def test_seeded_random_documents_give_the_same_bytes_or_the_same_error(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not a secret
    for _ in range(2_500):
        payload: Any = {"eventType": "MESSAGE", "data": a_value(rng)} if rng.random() < 0.5 else a_value(rng)
        assert outcome(body_bytes, payload) == outcome(compact_json, payload), payload


@pytest.mark.parametrize("signing", [False, True], ids=["unsigned", "signed"])
def test_both_policies_write_bodies_with_it(signing: bool) -> None:
    emu = SimpleNamespace(vendor_config=lambda slug: SimpleNamespace(signing=signing), store=SimpleNamespace(seed=1))
    assert delivery.policy(cast(Any, emu)).serialize is body_bytes


@pytest.mark.parametrize("profile", [{"tenant_id": "t-1", "customer_id": "c-1"}, {}], ids=["profile", "none"])
def test_unsigned_headers_are_the_plain_headers_in_their_order(profile: dict[str, str]) -> None:
    from emulator.core.webhooks import AttemptContext
    from emulator.vendors.eightbyeight import signing

    for attempt, at in ((0, 1_767_225_600.2505), (3, 0.0), (1, 1_767_225_600.9995)):
        ctx = AttemptContext("eightbyeight", "ten", "e-1", "MESSAGE", "s", "http://x", b"{}", attempt, at, profile)
        want = signing.plain_headers(
            str(profile.get("tenant_id", "ten")), str(profile.get("customer_id", "")), "e-1", attempt, round(at * 1000)
        )
        got = delivery.unsigned_headers(ctx)
        assert list(got.items()) == list(want.items())
