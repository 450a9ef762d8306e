"""CM.com wire models: the send envelope and its response, the router control bodies, and webhook payloads.

The send API is parsed by hand (`send.py`) because CM judges each message on its own (a bad `from` rejects
that message with 301, not the request); these models describe the same envelope for the contract.
Webhook payload models mirror what `events.py` builds (cmcom.md §3.2, §3.3).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from emulator.core.types import AS_STR, JsonStr
from emulator.vendors.cmcom import constants as c

GUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
Guid = Annotated[str, Strict(), Field(pattern=GUID), AS_STR]
Sender = Annotated[str, Strict(), Field(pattern=r"^(\+?[0-9]{1,16}|[A-Za-z][A-Za-z0-9 ]{0,10})$"), AS_STR]
Number = Annotated[str, Strict(), Field(pattern=r"^(\+|00)[1-9][0-9]{5,14}$"), AS_STR]
Content = Annotated[str, Strict(), Field(min_length=1), AS_STR]


class _Open(BaseModel):
    """Lenient like CM's gateway: unknown fields are ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Authentication(_Open):
    producttoken: JsonStr | None = Field(None, description=".NET/Python SDK casing")
    productToken: JsonStr | None = Field(None, description="JS SDK and docs casing")


class Recipient(_Open):
    number: Number = Field(description="MT numbers as 00<country><number>")


class Body(_Open):
    type: Literal["auto", "text", "binary", "AUTO", "TEXT", "BINARY"] | None = Field(
        None, description="auto | text | binary (any case)"
    )
    content: JsonStr = Field(description="the text (may be empty when richContent carries the message)")


class Media(_Open):
    mediaName: JsonStr | None = None
    mediaUri: JsonStr | None = None
    mimeType: JsonStr | None = None


class RichMessage(_Open):
    text: JsonStr | None = None
    header: JsonStr | None = None
    media: Media | None = None
    template: dict[str, Any] | None = Field(None, description="{whatsapp: {namespace, elementName, language, ...}}")
    interactive: dict[str, Any] | None = Field(None, description="WhatsApp interactive message")
    location: dict[str, Any] | None = None
    carousel: dict[str, Any] | None = None
    contacts: list[Any] | None = None


class Suggestion(_Open):
    action: Content = Field(description="reply, openUrl, Dial, viewLocation, CreateCalendarEvent (any case)")
    label: JsonStr | None = None
    postbackdata: JsonStr | None = None
    url: JsonStr | None = None


class RichContent(_Open):
    conversation: list[RichMessage] | None = None
    suggestions: list[Suggestion] | None = None


class Msg(_Open):
    from_: Sender = Field(alias="from", description="≤16 digits or ≤11 alphanumerics")
    to: list[Recipient] = Field(min_length=1, max_length=1000)
    body: Body
    allowedChannels: list[c.ChannelName] | None = Field(None, description="matched case-insensitively")
    reference: JsonStr | None = None
    customGrouping: JsonStr | None = None
    customGrouping2: JsonStr | None = None
    customGrouping3: JsonStr | None = None
    minimumNumberOfMessageParts: Annotated[int, Field(ge=1, le=8)] | None = None
    maximumNumberOfMessageParts: Annotated[int, Field(ge=1, le=8)] | None = None
    validity: JsonStr | None = None
    appKey: JsonStr | None = None
    richContent: RichContent | None = None


class Messages(_Open):
    authentication: Authentication
    msg: list[Msg] = Field(min_length=1)


class SendRequest(_Open):
    """The Business Messaging envelope (gateway and BMProxy alike)."""

    messages: Messages


class MessageResult(BaseModel):
    to: str | None
    status: str = Field(description="Accepted | Rejected")
    reference: str | None
    parts: int
    messageDetails: str | None
    messageErrorCode: int


class SendResponse(BaseModel):
    details: str
    errorCode: int = Field(description="0 OK, 101..103 authentication/balance, 201 not all sent, 202, 203, 500")
    messages: list[MessageResult]


# -- router control ------------------------------------------------------------------------------------------


class _Control(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Mutation(_Control):
    type_: Literal["enableComponent", "disableComponent"] = Field(alias="$type")
    ComponentId: Literal["CmBot", "CustomerContact", "BMProxy"] = Field(
        description="CmBot, CustomerContact or the partner bot (`partner_component`, default BMProxy)"
    )


class MutationRequest(_Control):
    ChatId: Guid = Field(description="a GUID, from `conversationalRouter.chatId`")
    Mutations: list[Mutation] = Field(min_length=1)
    Context: dict[str, JsonStr] | None = Field(None, description="matched against Customer Contact team values")


class PositionRequest(_Control):
    ChatId: Guid
    FlowId: Content = Field(description="a flow of the CmBot (400 when it has none by that id)")
    StepId: Content = Field(description="a step of that flow (400 when it has none by that id)")


class ProblemDetails(BaseModel):
    type: str
    title: str
    status: int
    errors: dict[str, list[str]] | None = None
    detail: str | None = None


# -- webhooks ------------------------------------------------------------------------------------------------


class Party(BaseModel):
    number: str = Field(description="E.164 with a leading +")
    name: str | None


class MoMedia(BaseModel):
    mediaUri: str | None
    contentType: str | None
    title: str | None


class MoMessage(BaseModel):
    text: str | None
    media: MoMedia
    custom: dict[str, Any]


class RouterInfo(BaseModel):
    chatId: str
    accountId: str


class MoPayload(BaseModel):
    """A plain Business Messaging MO (cmcom.md §3.2)."""

    reference: str
    from_: Party = Field(alias="from")
    to: Party
    message: MoMessage
    groupings: list[str] = Field(description="three strings: the replied-to message's custom groupings")
    timeUtc: str = Field(description="2019-11-05T08:32:33 (no offset)")
    channel: str


class RouterMoPayload(BaseModel):
    """An MO as the Bot Router delivers it: the MO format plus `conversationalRouter` (cmcom.md §3.3)."""

    from_: Party = Field(alias="from")
    to: Party
    message: MoMessage
    reference: str
    groupings: list[str]
    timeUtc: str = Field(description="7-digit fraction and offset: 2020-09-16T08:23:32.8981621+00:00")
    channel: str
    conversationalRouter: RouterInfo


class StatusInfo(BaseModel):
    code: str = Field(description="0 accepted, 2 delivered, 3 failed, 4 read; Sent when configured [inf]")
    errorCode: str
    errorDescription: str


class StatusMsg(BaseModel):
    received: str
    to: str = Field(description="00<country><number>")
    reference: str
    status: StatusInfo
    operator: str


class StatusMessages(BaseModel):
    msg: StatusMsg


class StatusReport(BaseModel):
    """A delivery status report (cmcom.md §3.2)."""

    messages: StatusMessages


class NotifiedMutation(BaseModel):
    type_: str = Field(alias="$type")
    ComponentId: str


class MutationNotification(BaseModel):
    """Sent to the other components when one mutates a chat's routing (payload undocumented [inf])."""

    type_: str = Field(alias="$type", description="mutationNotification | resetNotification")
    ChatId: str
    AccountId: str
    SourceComponentId: str
    Mutations: list[NotifiedMutation]
    Context: dict[str, str] | None = None
    timeUtc: str
