"""What the battery needs to know of each vendor: how a real subject and its events are made, where the event id
lives, how a body is varied (unknown type, extra fields, a given text), and how its signature is forged.

A profile makes its events with the vendor's own code: the subject is created in the tenant's state by the
vendor's state functions (an 8x8 conversation an agent has answered, a Chatwoot widget conversation, a CM.com
MO on a chat), the webhook bodies come from the vendor's payload builders applied to the domain events that unit
of work recorded, and the headers of an attempt from the vendor's own header hook (`WebhookPolicy.headers`, which
signs). Samespace is the exception: a callback needs a live call, so its events are built by its callback builder
for a call id of the tenant's that has no call behind it (its oracle is the probe or the status codes anyway:
Samespace has no API a receiver calls back into).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from emulator.core.events import DomainEvent
from emulator.core.ids import fmt_uuid
from emulator.core.keys import derive_rsa_key
from emulator.core.runtime import Emulator
from emulator.core.signatures import unsigned_why
from emulator.core.webhooks import AttemptContext
from emulator.vendors.cmcom import events as cm_events
from emulator.vendors.cmcom import hands as cm_hands
from emulator.vendors.cmcom import state as cm_state
from emulator.vendors.cmcom.constants import SLUG as CM
from emulator.vendors.eightbyeight import delivery as x8_delivery
from emulator.vendors.eightbyeight import events as x8_events
from emulator.vendors.eightbyeight import hands as x8_hands
from emulator.vendors.eightbyeight import models as x8_models
from emulator.vendors.eightbyeight import signing as x8_signing
from emulator.vendors.eightbyeight import state as x8_state
from emulator.vendors.eightbyeight.constants import SLUG as X8
from emulator.vendors.eightbyeight.constants import WEBHOOK_RETRY_HEADER, WEBHOOK_SIGNATURE_HEADER
from emulator.vendors.samespace import views as ss_views
from emulator.vendors.samespace.constants import SLUG as SS
from emulator.vendors.sangoma import delivery as sg_delivery
from emulator.vendors.sangoma import hands as sg_hands
from emulator.vendors.sangoma.constants import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from emulator.vendors.sangoma.constants import SLUG as SG
from emulator.vendors.sangoma.events import ACCOUNT, API_INBOX, BOT
from emulator.vendors.sangoma.state import SangomaState

Headers = dict[str, str]


@dataclass
class Event:
    """One webhook the battery can send: its body (a JSON tree), type, journal subject, event id and the profile
    the vendor's header hook reads (8x8's tenant and customer ids, a Chatwoot secret)."""

    payload: Any
    event_type: str
    subject: str
    event_id: str
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """A real subject made for one check: its events in the order the vendor raised them; `main` is the one the
    integration reacts to (a customer's message)."""

    subject: str
    events: list[Event]
    main: Event


@dataclass(frozen=True)
class Forgery:
    """A signature check's request: the headers and body to send instead of the valid ones (several per check
    when a trick has more than one form, e.g. HS256 keyed with the PEM and with the JWK)."""

    label: str
    headers: Headers
    body: bytes


class Profile:
    """A vendor's part of the battery; see the module docstring."""

    slug: str = ""
    message_event: str = ""
    event_id_in_body = False
    """Whether the event id a receiver de-duplicates on lives in the body (CM's `reference`, an unsigned Chatwoot
    message's `id`) rather than in a header."""
    calls_back = True
    """Whether a receiver has an API of this vendor's to call back into (the journal oracle)."""

    def __init__(self, emu: Emulator, url: str = "") -> None:
        self.emu = emu
        self.url = url
        """The receiver's URL (a Chatwoot delivery is signed with the secret of what points at it)."""

    def signs(self) -> str | None:
        """None when this server signs the vendor's webhooks, else why not (the vendor's delivery policy says)."""
        return unsigned_why(self.emu.dispatcher.policy(self.slug).signature)

    async def sample(self, tenant: str, text: str) -> Sample:
        raise NotImplementedError

    async def new_event_id(self, tenant: str) -> str:
        """A new event id of the tenant's, drawn as the vendor draws its own."""
        async with self.emu.store.tenant(self.slug, tenant) as tx:
            return str(tx.ids.new("event", fmt_uuid))

    def rekeyed(self, event: Event, event_id: str) -> Event:
        """The same event under another event id (in the header, or in the body where the vendor keeps it)."""
        return Event(event.payload, event.event_type, event.subject, event_id, dict(event.profile))

    def visible_id(self, event: Event) -> str | None:
        """The event's id as a receiver sees it (what the probe is asked about); None when it sees none."""
        return event.event_id

    def unknown(self, event: Event) -> Event:
        raise NotImplementedError

    def extra_fields(self, event: Event) -> Event:
        payload = dict(event.payload) | {"cxemuExtraField": {"nested": [1, "two", None], "added": True}}
        return Event(payload, event.event_type, event.subject, event.event_id, dict(event.profile))

    def with_text(self, event: Event, text: str) -> Event:
        raise NotImplementedError

    def headers(self, tenant: str, event: Event, body: bytes, attempt: int, at: float) -> Headers:
        """The headers of one attempt as the dispatcher builds them (`WebhookDispatcher._headers`): its content type
        and user agent, then the vendor's own hook (which signs)."""
        dispatcher = self.emu.dispatcher
        policy = dispatcher.policy(self.slug)
        out = {"content-type": policy.content_type, "user-agent": dispatcher.user_agent}
        if policy.headers is not None:
            ctx = AttemptContext(
                vendor=self.slug,
                tenant=tenant,
                event_id=event.event_id,
                event_type=event.event_type,
                subject=event.subject,
                url="",
                body=body,
                attempt=attempt,
                transmission_time=at,
                profile=event.profile,
            )
            out.update(policy.headers(ctx))
        return out

    def retry_header(self) -> str | None:
        """The header whose value grows on a retry, if the vendor sends one."""
        return None

    def forgeries(self, check: str, tenant: str, event: Event, body: bytes, at: float) -> list[Forgery]:
        return []

    def serialize(self, payload: Any) -> bytes:
        return self.emu.dispatcher.policy(self.slug).serialize(payload)


def _wrong_material(emu: Emulator, slug: str) -> bytes:
    return f"cxemu/verify/{slug}/wrong-key/{emu.store.seed}".encode()


def _b64url(data: bytes) -> str:
    return x8_signing._b64url_encode(data)


class EightByEight(Profile):
    slug = X8
    message_event = "MESSAGE"

    async def sample(self, tenant: str, text: str) -> Sample:
        async with self.emu.store.tenant(X8, tenant) as tx:
            state: x8_state.EightByEightState = tx.state
            channel = next(iter(state.channels))
            assignment = x8_models.Assignment()
            user = x8_models.ConversationUser.model_validate({"name": "Verify Receiver"})
            conv = x8_state.create_conversation(tx, channel, user, str(assignment.type), assignment.id, [])
            message = x8_models.SendMessageRequest.model_validate({"authorType": "user", "text": "Hello"})
            x8_state.post_message(tx, conv, message, echo=True)
            x8_state.activate(tx, conv)
            free = [a.id for a in state.agents.values() if len(a.handling) < a.capacity]
            x8_hands.agent_act(tx, conv, "join", agent_id=free[0] if free else None)
            x8_hands.agent_act(tx, conv, "say", text=text)
            x8_hands.agent_act(tx, conv, "leave")  # the agent is free for the next check's conversation
            profile = {"tenant_id": state.tenant_id, "customer_id": state.customer_id}
            events = [
                Event(body, event_type, event.subject, tx.ids.new("event", x8_state.EVENT_ID), profile)
                for event in tx.events
                for event_type, body in x8_events.v1_payloads(event)
            ]
        # the agent's answer: a MESSAGE from 8x8 itself (not an echo of the integration's own post)
        main = next(e for e in events if e.event_type == "MESSAGE" and not e.payload["data"]["isEcho"])
        return Sample(conv.id, events, main)

    def unknown(self, event: Event) -> Event:
        payload = dict(event.payload) | {"eventType": "CXEMU_UNKNOWN_EVENT"}
        return Event(payload, "CXEMU_UNKNOWN_EVENT", event.subject, event.event_id, dict(event.profile))

    def with_text(self, event: Event, text: str) -> Event:
        payload = json.loads(json.dumps(event.payload))
        payload["data"]["text"] = text
        return Event(payload, event.event_type, event.subject, event.event_id, dict(event.profile))

    def retry_header(self) -> str | None:
        return WEBHOOK_RETRY_HEADER

    def forgeries(self, check: str, tenant: str, event: Event, body: bytes, at: float) -> list[Forgery]:
        valid = self.headers(tenant, event, body, 0, at)
        signer = x8_delivery.signer_for(self.emu)
        kid = signer.kid
        payload = x8_signing.signature_payload(
            body,
            str(event.profile.get("customer_id", "")),
            event.event_id,
            0,
            str(event.profile.get("tenant_id", tenant)),
            round(at * 1000),
        )

        def signed(jws: str) -> Headers:
            return valid | {WEBHOOK_SIGNATURE_HEADER: jws}

        def encoded(header: dict[str, Any]) -> str:
            return _b64url(json.dumps(header, separators=(",", ":")).encode())

        if check == "tampered-body-rejected":
            return tampered(valid, body)
        if check == "wrong-key-rejected":
            other = derive_rsa_key(_wrong_material(self.emu, X8))
            same_kid = x8_signing.sign_detached(other, kid, payload)
            own_kid = x8_signing.sign_detached(other, x8_signing.kid_for(other), payload)
            return [
                Forgery("another key under the server's kid", signed(same_kid), body),
                Forgery("another key and its own kid (not served)", signed(own_kid), body),
            ]
        if check == "missing-signature-rejected":
            return [
                Forgery("no x-8x8-signature", {k: v for k, v in valid.items() if k != WEBHOOK_SIGNATURE_HEADER}, body)
            ]
        if check == "malformed-signature-rejected":
            return [
                Forgery("not a JWS", signed("not-a-jws"), body),
                Forgery("three parts of garbage", signed("e30.!!.@@"), body),
            ]
        if check == "jws-alg-none-rejected":
            head = encoded({"b64": False, "crit": ["b64"], "kid": kid, "alg": "none"})
            return [Forgery('alg "none", empty signature', signed(f"{head}.."), body)]
        if check == "jws-hs256-confusion-rejected":
            public = signer.key().public_key()
            pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            jwk = json.dumps(signer.jwk(), separators=(",", ":")).encode()
            head = encoded({"b64": False, "crit": ["b64"], "kid": kid, "alg": "HS256"})
            out = []
            for label, secret in (("HS256 keyed with the public key's PEM", pem), ("... with its JWK", jwk)):
                mac = hmac.new(secret, x8_signing.signing_input(head, payload), hashlib.sha256).digest()
                out.append(Forgery(label, signed(f"{head}..{_b64url(mac)}"), body))
            return out
        if check == "jws-attached-payload-rejected":
            head = encoded({"alg": "RS256", "kid": kid})
            middle = _b64url(payload)
            sig = signer.key().sign(f"{head}.{middle}".encode(), padding.PKCS1v15(), hashes.SHA256())
            return [
                Forgery("a valid attached JWS (payload part filled)", signed(f"{head}.{middle}.{_b64url(sig)}"), body)
            ]
        return []


def tampered(headers: Headers, body: bytes) -> list[Forgery]:
    """The tampered bodies sent with a valid signature of `body`: one letter changed, and the same JSON re-spaced
    (a receiver must check the bytes it received, not what it re-serialises from them)."""
    out = [Forgery("body changed after signing", headers, _tampered(body))]
    try:
        spaced = json.dumps(json.loads(body), ensure_ascii=False, separators=(", ", ": ")).encode()
    except ValueError:
        return out
    if spaced != body:
        out.append(Forgery("the same JSON re-spaced after signing", headers, spaced))
    return out


def _tampered(body: bytes) -> bytes:
    """`body` with one character of it changed (a JSON body stays JSON: a letter inside a string is swapped)."""
    text = body.decode(errors="replace")
    for i, ch in enumerate(text):
        if ch.isalpha():
            return (text[:i] + ("X" if ch != "X" else "Y") + text[i + 1 :]).encode()
    return body + b" "


class Sangoma(Profile):
    slug = SG
    message_event = "message_created"

    @property
    def event_id_in_body(self) -> bool:  # type: ignore[override]
        return self.signs() is not None

    async def sample(self, tenant: str, text: str) -> Sample:
        async with self.emu.store.tenant(SG, tenant) as tx:
            started = sg_hands.start_customer(tx, None, "Verify Receiver", None, text, None)
            secret, role = self.secret_for(tx.state)
            profile = {"secret": secret, "role": role, "conversation": started["conversation_id"]}
            events = [
                Event(event.data["payload"], event.kind, event.subject, "", profile)
                for event in tx.events
                if isinstance(event.data.get("payload"), dict)
            ]
        for e in events:
            e.event_id = await self.new_event_id(tenant)
        main = next(e for e in events if e.event_type == self.message_event)
        return Sample(main.subject, events, main)

    def secret_for(self, state: SangomaState) -> tuple[str, str]:
        """The secret (and receiver role) a delivery to the receiver is signed with: that of the account webhook,
        agent bot or API inbox of the tenant whose URL is the receiver's (or on its host and port), as Chatwoot
        signs with the secret of the receiver it sends to; else the tenant's first API inbox's."""
        targets = [(h.url, h.secret, ACCOUNT) for h in state.webhooks.values()]
        targets += [(b.outgoing_url, b.secret, BOT) for b in state.agent_bots.values()]
        targets += [(str(i.webhook_url), i.secret, API_INBOX) for i in state.inboxes.values() if i.webhook_url]
        mine = urlsplit(self.url)
        for url, secret, role in targets:
            theirs = urlsplit(url)
            if url == self.url or (theirs.hostname, theirs.port) == (mine.hostname, mine.port):
                return secret, role
        inbox = next((i for i in state.inboxes.values() if i.channel_type == "Channel::Api"), None)
        return (inbox.secret if inbox is not None else ""), API_INBOX

    def rekeyed(self, event: Event, event_id: str) -> Event:
        out = super().rekeyed(event, event_id)
        if self.event_id_in_body and isinstance(out.payload, dict) and isinstance(out.payload.get("id"), int):
            # unsigned Chatwoot carries no delivery id: the message id is what a receiver de-duplicates on
            number = 1_000_000 + int(hashlib.sha256(event_id.encode()).hexdigest()[:6], 16)
            out.payload = dict(out.payload) | {"id": number}
        return out

    def visible_id(self, event: Event) -> str | None:
        if self.event_id_in_body and isinstance(event.payload, dict):
            return str(event.payload.get("id"))
        return event.event_id

    def unknown(self, event: Event) -> Event:
        payload = dict(event.payload) | {"event": "cxemu_unknown_event"}
        return Event(payload, "cxemu_unknown_event", event.subject, event.event_id, dict(event.profile))

    def with_text(self, event: Event, text: str) -> Event:
        payload = dict(event.payload) | {"content": text}
        return Event(payload, event.event_type, event.subject, event.event_id, dict(event.profile))

    def forgeries(self, check: str, tenant: str, event: Event, body: bytes, at: float) -> list[Forgery]:
        valid = self.headers(tenant, event, body, 0, at)

        def without(*names: str) -> Headers:
            lowered = {n.lower() for n in names}
            return {k: v for k, v in valid.items() if k.lower() not in lowered}

        if check == "tampered-body-rejected":
            return tampered(valid, body)
        if check == "wrong-key-rejected":
            wrong = hashlib.sha256(_wrong_material(self.emu, SG)).hexdigest()
            stamp = int(at)
            sig = sg_delivery.signature(wrong, stamp, body)
            return [Forgery("HMAC keyed with another secret", valid | {SIGNATURE_HEADER: sig}, body)]
        if check == "missing-signature-rejected":
            return [Forgery(f"no {SIGNATURE_HEADER}", without(SIGNATURE_HEADER), body)]
        if check == "malformed-signature-rejected":
            return [
                Forgery("not hex", valid | {SIGNATURE_HEADER: "sha256=zz-not-hex"}, body),
                Forgery("no sha256= prefix", valid | {SIGNATURE_HEADER: "garbage"}, body),
            ]
        if check == "stale-timestamp-rejected":
            stale = int(at) - 3600
            secret = str(event.profile.get("secret") or "")
            headers = valid | {
                TIMESTAMP_HEADER: str(stale),
                SIGNATURE_HEADER: sg_delivery.signature(secret, stale, body),
            }
            return [Forgery("validly signed, timestamp one hour old", headers, body)]
        return []

    def retry_header(self) -> str | None:
        return DELIVERY_HEADER if self.signs() is None else None


class CmCom(Profile):
    slug = CM
    message_event = "MO"
    event_id_in_body = True

    async def sample(self, tenant: str, text: str) -> Sample:
        async with self.emu.store.tenant(CM, tenant) as tx:
            number = "+3161" + str(len(tx.state.chats) + 1000000).zfill(7)
            msg = cm_hands.EndUserMessage.model_validate({"channel": tx.state.channels[0], "text": text})
            chat = cm_hands.end_user_send(tx, number, msg)
            events = [
                Event(body, event_type, event.subject, str(body.get("reference", "")))
                for event in tx.events
                for event_type, body in cm_events.payloads(event)
            ]
        main = events[-1]
        return Sample(chat.id, events, main)

    async def new_event_id(self, tenant: str) -> str:
        async with self.emu.store.tenant(CM, tenant) as tx:
            return str(tx.ids.new("reference", cm_state.REFERENCE))

    def rekeyed(self, event: Event, event_id: str) -> Event:
        out = super().rekeyed(event, event_id)
        out.payload = dict(out.payload) | {"reference": event_id}
        return out

    def unknown(self, event: Event) -> Event:
        payload = {"$type": "CxemuUnknownNotification", "ChatId": event.subject, "reference": event.event_id}
        return Event(payload, "CxemuUnknownNotification", event.subject, event.event_id)

    def with_text(self, event: Event, text: str) -> Event:
        payload = json.loads(json.dumps(event.payload))
        payload["message"]["text"] = text
        return Event(payload, event.event_type, event.subject, event.event_id)


class Samespace(Profile):
    slug = SS
    message_event = "call.answered"
    calls_back = False

    async def sample(self, tenant: str, text: str) -> Sample:
        async with self.emu.store.tenant(SS, tenant) as tx:
            call = str(tx.ids.new("verify-call", lambda _raw, n: f"verify-call-{n}"))
            at = tx.now()
        kinds = ("call.ringing", "call.answered")
        events = [
            Event(ss_views.callback(DomainEvent(SS, tenant, k, call, at, {"text": text})), k, call, "") for k in kinds
        ]
        for e in events:
            e.event_id = await self.new_event_id(tenant)
        return Sample(call, events, events[-1])

    def visible_id(self, event: Event) -> str | None:
        return None  # a callback carries no event id

    def unknown(self, event: Event) -> Event:
        payload = dict(event.payload) | {"event": "cxemu.unknown"}
        return Event(payload, "cxemu.unknown", event.subject, event.event_id)

    def with_text(self, event: Event, text: str) -> Event:
        payload = dict(event.payload) | {"data": {"text": text}}
        return Event(payload, event.event_type, event.subject, event.event_id)


PROFILES: dict[str, Callable[[Emulator, str], Profile]] = {X8: EightByEight, SG: Sangoma, CM: CmCom, SS: Samespace}
"""The vendors the battery knows, by slug."""
