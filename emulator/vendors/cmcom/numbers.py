"""Numbers, channel names, ChatIds and timestamps as CM writes them (cmcom.md §3.1-§3.4).

- MT (outbound) numbers are `00<country><number>`; MO (inbound) numbers are E.164 with `+`. Both are kept
  as bare digits in state, so `+316...` and `00316...` are the same person.
- The ChatId must be the same for both directions of one chat, so it is computed from roles (client = end
  user, host = business), never from a message's literal from/to. CM's algorithm is not public [inf]:
  MD5 of `channel|client|host` laid out as a .NET `new Guid(byte[])` (DESIGN.md "Decisions on unknowns"), or
  uuid5 when configured.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import uuid
from datetime import UTC, datetime

from emulator.vendors.cmcom.constants import CANONICAL_CHANNEL

_NUMBER = re.compile(r"^(?:\+|00)?([0-9]{6,15})$")
_ALNUM_SENDER = re.compile(r"^[A-Za-z0-9 .&_-]{1,11}$")
_DIGIT_SENDER = re.compile(r"^\+?[0-9]{1,16}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
UUID5_NAMESPACE = uuid.UUID("6f2b2f0e-3c1c-4a8e-9d0e-0c6d636d636d")
TOKEN_NAMESPACE = uuid.UUID("0c6d636d-7072-6f64-7563-74746f6b656e")
# GSM 03.38 basic character set: messages in it fit 160 characters per SMS part, others 70 (UCS-2).
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


NUMBER_PATTERN = r"^(\+|00)?[0-9]{6,15}$"
"""An end user's number as the control plane takes it (its contract's pattern): `+316...`, `00316...` or `316...`,
nothing around it."""
_EXACT = re.compile(NUMBER_PATTERN[1:-1])


def exact_number(number: str) -> bool:
    """Whether `number` is a phone number as `NUMBER_PATTERN` says (`digits` also takes one with blanks around it,
    as a config file or the send API may write it)."""
    return _EXACT.fullmatch(number) is not None


def digits(number: str) -> str | None:
    """The bare digits of a phone number written `+316...`, `00316...` or `316...`; None if not a number."""
    match = _NUMBER.match(number.strip())
    return match.group(1) if match else None


def host_key(sender: str) -> str:
    """The business side of a chat: a number's digits, or an alphanumeric sender name as it is."""
    return digits(sender) or sender.strip()


def mt(number: str) -> str:
    return f"00{number}" if number.isdigit() else number


def mo(number: str) -> str:
    return f"+{number}" if number.isdigit() else number


def valid_sender(sender: str) -> bool:
    return bool(_DIGIT_SENDER.match(sender) or (_ALNUM_SENDER.match(sender) and not sender.isdigit()))


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def guid_key(value: str) -> str:
    """A GUID as ids are kept (lower case, hyphenated): .NET parses `N` (no hyphens) and `D` alike."""
    return str(uuid.UUID(value)) if is_guid(value) else value.lower()


def product_token(tenant: str) -> str:
    """The product token of a tenant that has none configured: its name when that is a GUID (an open-auth
    tenant is named by its token), else a GUID derived from the name, so `acme` gets a token CM would accept."""
    return tenant if is_guid(tenant) else str(uuid.uuid5(TOKEN_NAMESPACE, tenant))


def channel_name(value: str) -> str | None:
    """The canonical name of a channel, matched case-insensitively (the SDK sends `Whatsapp`)."""
    return CANONICAL_CHANNEL.get(value.strip().lower())


@functools.lru_cache(maxsize=4096)
def chat_id(channel: str, client: str, host: str, algorithm: str = "md5-guid") -> str:
    """The chat of an end user and a sender on a channel (a pure function, so its answers are kept: every send
    asks it once per channel the account has)."""
    key = f"{channel}|{client}|{host}"
    if algorithm == "uuid5":
        return str(uuid.uuid5(UUID5_NAMESPACE, key))
    return str(uuid.UUID(bytes_le=hashlib.md5(key.encode()).digest()))


def parts(text: str, channel: str) -> int:
    """SMS parts a body needs (1 on other channels): 160/153 GSM-7 characters, 70/67 otherwise."""
    if channel != "SMS" or not text:
        return 1
    single, multi = (160, 153) if all(ch in GSM7 for ch in text) else (70, 67)
    return 1 if len(text) <= single else math.ceil(len(text) / multi)


def time_utc(ts: float) -> str:
    """The router's `timeUtc`: 7-digit fraction and offset, `2020-09-16T08:23:32.8981621+00:00`."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0+00:00"


def time_plain(ts: float) -> str:
    """The plain MO's `timeUtc` and a status report's `received`: no fraction, no offset. Every report formats
    one, and many fall in the same second: the text of a whole second is kept (`_plain_second`)."""
    return _plain_second(_whole_second(ts))


def _whole_second(ts: float) -> int:
    """The second `datetime.fromtimestamp(ts)` shows: it rounds to microseconds (half to even) first, so
    x.9999996 is the next second."""
    frac, whole = math.modf(ts)
    micro = round(frac * 1e6)
    if micro >= 1_000_000:
        whole += 1
    elif micro < 0:
        whole -= 1
    return int(whole)


@functools.lru_cache(maxsize=256)
def _plain_second(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
