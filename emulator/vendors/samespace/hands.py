"""Acting by hand on Samespace calls: what the control plane's routes and scenario actions both do.

- `answer`: the ringing callee picks up now (the timer that would answer or give up is then stale).
- `press`: the callee keys in (or types ahead) on a live call, as the engine's own callee does.
- `hang_up`: the callee hangs up.
- `set_number`: how a phone number behaves for calls placed from then on (`CalleeBehaviour`).
"""

from __future__ import annotations

from typing import Final

from emulator.core.errors import EmulatorError
from emulator.core.runtime import Emulator
from emulator.vendors.samespace import state as st
from emulator.vendors.samespace.config import CalleeBehaviour
from emulator.vendors.samespace.constants import CallStatus, EndReason
from emulator.vendors.samespace.engine import Engine

NOT_RINGING: Final = "call {call} is not ringing ({status})"


async def answer(emu: Emulator, tenant: str, call_id: str) -> st.Call:
    async with st.store(emu).tenant(tenant, create=False) as tx:
        call = st.live_call(tx.state, call_id)
        if call.status != CallStatus.RINGING:
            message = NOT_RINGING.format(call=call_id, status=call.status)
            raise EmulatorError(message, status_code=409, code="not_ringing")
        Engine(emu).answer(tx, call)
        return call


async def press(emu: Emulator, tenant: str, call_id: str, digits: str) -> st.Call:
    async with st.store(emu).tenant(tenant, create=False) as tx:
        call = st.live_call(tx.state, call_id)
        Engine(emu).keyed(tx, call, digits)
        return call


async def hang_up(emu: Emulator, tenant: str, call_id: str) -> st.Call:
    async with st.store(emu).tenant(tenant, create=False) as tx:
        call = st.live_call(tx.state, call_id)
        st.end_call(tx, call, EndReason.HANGUP)
        return call


async def set_number(emu: Emulator, tenant: str, number: str, behaviour: CalleeBehaviour) -> None:
    async with st.store(emu).tenant(tenant) as tx:
        tx.state.numbers[number] = behaviour
