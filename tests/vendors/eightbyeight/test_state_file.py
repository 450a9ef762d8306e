"""8x8 across a crash: conversation, participant and message ids created after the last save of a server that
then died are never handed out again (core/durable.py); a clean restart continues exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.scenarios.receiver import WebhookSink
from tests.vendors.eightbyeight.conftest import Ebe, EbeFactory, hook_to_sink, vendor_settings

USER = {"name": "Ann Smith", "email": "ann@example.test", "language": "en"}


async def started(make_ebe: EbeFactory, path: Path) -> Ebe:
    return await make_ebe(vendors=vendor_settings(), state_file=str(path), state_save_interval=0)


async def conversation(env: Ebe) -> tuple[str, set[str]]:
    """A new conversation (with a message): its id, and every id it holds (participants, messages)."""
    conv = await env.create({"channelId": "1", "user": dict(USER)})
    resp = await env.api("POST", f"/conversations/{conv}/messages", {"authorType": "user", "text": "hi"})
    assert resp.status_code == 202, resp.text
    held = env.state.conversations[conv]
    ids = {conv, held.user_participant, held.bot_participant, *(m.id for m in held.messages)}
    assert len(ids) == 4
    return conv, ids


def all_ids(state: Any) -> set[str]:
    return set(state.conversations)


async def test_conversations_after_a_crash_never_get_an_id_used_before_it(
    tmp_path: Path, make_ebe: EbeFactory, webhook_sink: WebhookSink
) -> None:
    path = tmp_path / "state.json"
    first = await started(make_ebe, path)
    await hook_to_sink(first, webhook_sink)
    saved_conv, _ = await conversation(first)
    assert first.emu.saver is not None
    assert await first.emu.saver.save(running=True) is None  # a periodic save
    lost_conv, lost_ids = await conversation(first)  # after it: lost in the crash, its ids out in the world
    before = all_ids(first.state)
    assert before == {saved_conv, lost_conv}

    second = await started(make_ebe, path)  # the first never stopped: its file says it was running
    assert all_ids(second.state) == {saved_conv}
    new_conv, new_ids = await conversation(second)
    assert new_conv not in before
    assert set(new_ids).isdisjoint(lost_ids)

    clean = tmp_path / "clean.json"
    third = await started(make_ebe, clean)
    await conversation(third)
    await third.emu.stop()
    fourth = await started(make_ebe, clean)
    fifth = await make_ebe(vendors=vendor_settings())  # no state file: the ids one server would give in a row
    expected = [await conversation(fifth) for _ in range(2)][1][0]
    assert (await conversation(fourth))[0] == expected
