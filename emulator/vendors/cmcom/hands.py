"""Acting by hand as a CM end user or a Customer Contact agent: what the control plane's routes and scenario
actions both do (cmcom.md §3.3, §3.5).

- `EndUserMessage` + `end_user_send`: an end user's message (text, media, location or a button reply) reaches
  the router as an MO, on `channel` (default WhatsApp).
- `AgentAction` + `agent_act`: `take_over` (optional `agentId`), `say` (`text`), `hand_back` (optional
  `flowId` + `stepId`), done at once as in Customer Contact.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from emulator.core.errors import EmulatorError
from emulator.core.types import AS_NUMBER, AS_STR
from emulator.vendors.cmcom import router as rt
from emulator.vendors.cmcom import state as st
from emulator.vendors.cmcom.numbers import channel_name, digits

Str = Annotated[str, Strict(), AS_STR]
Text = Annotated[str, Strict(), Field(min_length=1, max_length=10_000), AS_STR]
# Bounded, which also refuses NaN and Infinity (they would make the MO webhook invalid JSON).
Latitude = Annotated[float, Strict(), Field(ge=-90, le=90), AS_NUMBER]
Longitude = Annotated[float, Strict(), Field(ge=-180, le=180), AS_NUMBER]


class In(BaseModel):
    """A control-plane body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class MediaIn(In):
    mediaUri: Str
    contentType: Str = "image/jpeg"
    title: Str | None = None


class LocationIn(In):
    latitude: Latitude
    longitude: Longitude
    label: Str | None = None
    searchQuery: Str | None = None


class ButtonIn(In):
    id: Str
    title: Str


class EndUserMessage(In):
    """What an end user sends: exactly one of text, media, location, button (media may carry text)."""

    channel: Str = Field("WhatsApp", description="the channel they write on")
    name: Str | None = Field(None, description="their profile name (kept for later messages)")
    text: Text | None = None
    media: MediaIn | None = None
    location: LocationIn | None = None
    button: ButtonIn | None = None

    @model_validator(mode="after")
    def _one(self) -> EndUserMessage:
        if channel_name(self.channel) is None:
            raise ValueError(f"unknown channel {self.channel!r}")
        if sum(x is not None for x in (self.media, self.location, self.button)) > 1:
            raise ValueError("send one of media, location or button")
        if self.text is None and self.media is None and self.location is None and self.button is None:
            raise ValueError("send text, media, location or button")
        return self


class AgentAction(In):
    action: Literal["take_over", "say", "hand_back"]
    agentId: Str | None = Field(None, description="take_over: which agent (default: a free one of the team)")
    text: Text | None = Field(None, description="say: the message")
    flowId: Str | None = Field(None, description="hand_back: position the CmBot at this flow...")
    stepId: Str | None = Field(None, description="...and step")

    @model_validator(mode="after")
    def _complete(self) -> AgentAction:
        if self.action == "say" and self.text is None:
            raise ValueError("say needs text")
        if (self.flowId is None) != (self.stepId is None):
            raise ValueError("hand_back needs both flowId and stepId, or neither")
        return self


def end_user_send(tx: st.S, number: str, msg: EndUserMessage) -> st.Chat:
    """The MO of one end user message (shared by the control route and scenario actions)."""
    client = digits(number)
    if client is None:
        raise EmulatorError(f"{number!r} is not a phone number", status_code=400, code="invalid_request")
    kind, text, media, custom = "text", msg.text, None, None
    if msg.media is not None:
        kind, media = "media", msg.media.model_dump()
    elif msg.location is not None:
        kind, custom = "location", {"location": msg.location.model_dump(exclude_none=True)}
    elif msg.button is not None:
        kind, text = "button", msg.button.title
        custom = {"interactive": {"type": "button_reply", "button_reply": msg.button.model_dump()}}
    channel = channel_name(msg.channel) or msg.channel
    return rt.customer_message(
        tx, channel=channel, client=client, name=msg.name, kind=kind, text=text, media=media, custom=custom
    )


def agent_act(tx: st.S, chat: st.Chat, action: AgentAction) -> None:
    if action.action == "take_over":
        rt.take_over(tx, chat, action.agentId)
    elif action.action == "say":
        rt.agent_say(tx, chat, action.text or "")
    else:
        rt.hand_back(tx, chat, action.flowId, action.stepId)
