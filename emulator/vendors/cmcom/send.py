"""Reading the Business Messaging envelope and judging each message on its own (cmcom.md §3.1).

`read_envelope` refuses the request as a whole (HTTP 400, `messages: []`): not JSON or no `messages`
object (202), no usable `msg` array (203). `judge` checks one `msg` entry and returns one `Draft` per
recipient, each either ready to send or rejected with its `messageErrorCode` (301 from, 302 to, 303 MSISDN,
304 body, 305 field). Account rules (balance, blacklist, spam, channels, routing) are applied by `state.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.core.web import parse_json
from emulator.vendors.cmcom import constants as c
from emulator.vendors.cmcom import errors
from emulator.vendors.cmcom.numbers import channel_name, digits, valid_sender

GROUPINGS = ("customGrouping", "customGrouping2", "customGrouping3")
STRING_FIELDS = ("reference", "validity", "appKey", *GROUPINGS)


@dataclass(slots=True)
class Draft:
    """One (message, recipient) pair: what to send, or why not."""

    to: str | None
    reference: str | None
    sender: str = ""
    number: str = ""
    text: str = ""
    rich: dict[str, Any] | None = None
    allowed: list[str] | None = None
    groupings: list[str] = field(default_factory=lambda: ["", "", ""])
    maximum_parts: int = 8
    code: int = 0
    details: str | None = None
    parts: int = 0

    def reject(self, code: c.Code, details: str) -> None:
        if not self.code:
            self.code, self.details = int(code), details


def read_envelope(raw: bytes) -> tuple[str | None, list[Any]]:
    """The product token (either casing) and the `msg` entries; raises SendError for the whole request."""
    try:
        data = parse_json(raw)
    except ValueError:
        raise errors.malformed("the body is not valid JSON") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, dict):
        raise errors.malformed("no 'messages' object")
    auth = messages.get("authentication")
    token: str | None = None
    if isinstance(auth, dict):
        for key in ("producttoken", "productToken", "ProductToken"):
            if isinstance(auth.get(key), str):
                token = auth[key]
                break
    msgs = messages.get("msg")
    return token, msgs if isinstance(msgs, list) else []


def check_msg_array(msgs: list[Any]) -> None:
    if not msgs or not all(isinstance(m, dict) for m in msgs):
        raise errors.SendError(c.Code.MSG_ARRAY_INCORRECT, c.MSG_ARRAY)


def _text_of(body: Any, rich: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("content"), str) and body["content"]:
        return str(body["content"])
    conversation = rich.get("conversation") if isinstance(rich, dict) else None
    for item in conversation if isinstance(conversation, list) else ():
        if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"]:
            return str(item["text"])
    return ""


def _field_problem(msg: dict[str, Any]) -> tuple[str, str] | None:
    """The first field of a message with a wrong type or value: (field, reason)."""
    get = msg.get
    for name in STRING_FIELDS:
        value = get(name)
        if value is not None and not isinstance(value, str):
            return name, "must be a string"
    body = get("body")
    if body is not None and not isinstance(body, dict):
        return "body", "must be an object"
    if isinstance(body, dict):
        kind = body.get("type")
        if kind is not None and (not isinstance(kind, str) or kind.lower() not in c.BODY_TYPES):
            return "body.type", "must be auto, text or binary"
        if body.get("content") is not None and not isinstance(body["content"], str):
            return "body.content", "must be a string"
    bounds = {}
    for name in ("minimumNumberOfMessageParts", "maximumNumberOfMessageParts"):
        value = msg.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
            return name, "must be a whole number from 1 to 8"
        bounds[name] = value
    if bounds.get("minimumNumberOfMessageParts", 1) > bounds.get("maximumNumberOfMessageParts", 8):
        return "minimumNumberOfMessageParts", "is more than maximumNumberOfMessageParts"
    channels = msg.get("allowedChannels")
    if channels is not None:
        if not isinstance(channels, list) or not all(isinstance(ch, str) for ch in channels):
            return "allowedChannels", "must be an array of channel names"
        unknown = [ch for ch in channels if channel_name(ch) is None]
        if unknown:
            return "allowedChannels", f"unknown channel '{unknown[0]}'"
    rich = msg.get("richContent")
    if rich is not None and not isinstance(rich, dict):
        return "richContent", "must be an object"
    if isinstance(rich, dict):
        for name in ("conversation", "suggestions"):
            items = rich.get(name)
            if items is not None and (not isinstance(items, list) or not all(isinstance(i, dict) for i in items)):
                return f"richContent.{name}", "must be an array of objects"
        for suggestion in rich.get("suggestions") or []:
            if not isinstance(suggestion.get("action"), str):
                return "richContent.suggestions.action", "is required"
    return None


def judge(msg: dict[str, Any]) -> list[Draft]:
    """One Draft per recipient of one `msg` entry (a single rejected Draft when it has no usable `to`)."""
    get = msg.get
    reference = get("reference")
    if not isinstance(reference, str):
        reference = None
    raw_to = get("to")
    recipients: list[Any] = raw_to if isinstance(raw_to, list) else []
    sender = get("from")
    rich = get("richContent")
    if not isinstance(rich, dict):
        rich = None
    text = _text_of(get("body"), rich)
    groupings = [g if isinstance(g := get(name), str) else "" for name in GROUPINGS]
    channels = get("allowedChannels")
    allowed = None
    if isinstance(channels, list):
        allowed = [n for n in (channel_name(ch) for ch in channels if isinstance(ch, str)) if n is not None] or None
    maximum = get("maximumNumberOfMessageParts")
    if not (isinstance(maximum, int) and not isinstance(maximum, bool) and 1 <= maximum <= 8):
        maximum = 8
    plain_sender = sender if isinstance(sender, str) else ""
    # what every recipient's draft is refused for, worked out once (in this order: from, a field, the body)
    common: list[tuple[c.Code, str]] = []
    if not isinstance(sender, str) or not valid_sender(sender.strip()):
        common.append((c.Code.INVALID_FROM, c.INVALID_FROM.format(sender=plain_sender)))
    problem = _field_problem(msg)
    if problem is not None:
        common.append((c.Code.INVALID_FIELD, c.INVALID_FIELD.format(field=problem[0], reason=problem[1])))
    if not text and not rich:
        common.append((c.Code.INVALID_BODY, c.EMPTY_BODY))

    def draft(to: str | None) -> Draft:
        d = Draft(to, reference, plain_sender, "", text, rich, allowed, list(groupings), maximum)
        if common:
            d.reject(*common[0])
        return d

    if not recipients:
        single = draft(None)
        single.reject(c.Code.INVALID_TO, c.NO_RECIPIENTS)
        return [single]
    out: list[Draft] = []
    for entry in recipients:
        number = entry.get("number") if isinstance(entry, dict) else None
        d = draft(number if isinstance(number, str) else None)
        if not isinstance(number, str):
            d.reject(c.Code.INVALID_TO, c.INVALID_TO)
        else:
            bare = digits(number)
            if bare is None:
                d.reject(c.Code.INVALID_MSISDN, c.NOT_A_NUMBER.format(number=number))
            else:
                d.number = bare
        out.append(d)
    return out
