"""Wire models: the Call Flow request (samespace.md §4.2), the responses and the callback event (§4.3 [inf]).

Parsing is lenient where the vendor's own sample is: ids and `next_step` references are strings or numbers
(compared as strings), unknown keys are ignored (older revisions sent `cloud_sid`), `digits`/`http` take
their routing map as `flow` too (the doc's field list for digits says `flow`, its example `next_step`;
older revisions used `flow` for both), and a `digits`/`http` step may name one scalar `next_step` for every
outcome. It is strict where a flow could not run: an unknown `type`, a `play` with neither `text` nor
`url`, `digits` without `count`/`variable`, `http` without `url`. Cross-object checks (one entry `call`,
unique ids) are in `flow.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from emulator.core.types import AS_INT, AS_STR, JsonBool, JsonInt, JsonStr
from emulator.vendors.samespace.config import HttpUrl

MAX_OBJECTS = 1000
"""Call flow objects one request may carry [inf] (a bound, so no request can make the server work unboundedly)."""

MAX_BODY_DEPTH = 32
"""How deeply an `http` object's JSON body may nest [inf] (templating walks it recursively)."""

Text = Annotated[str, Strict(), Field(min_length=1), AS_STR]
Ref = JsonStr | JsonInt
"""A step id or a reference to one: the sample mixes `"0"` and `1` (samespace.md §4.2)."""
Number = Annotated[str, Strict(), Field(min_length=1), AS_STR] | JsonInt
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "get", "post", "put", "patch", "delete"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Step(_Lenient):
    id: Ref = Field(description="unique within the flow; a string or a number")


class CallStep(_Step):
    """Places the call: the entry object of every flow (not necessarily the first in the array)."""

    type: Literal["call"]
    number: Number = Field(description="PSTN or internal number to call")
    caller_id: Number | None = None
    next_step: Ref | None = Field(None, description="id of the next object; none hangs up")


class PlayStep(_Step):
    """Says `text` (TTS) and/or plays the mp3 at `url`; at least one is required."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
                {"required": ["url"], "properties": {"url": {"type": "string"}}},
            ]
        }
    )

    type: Literal["play"]
    text: Text | None = None
    url: Text | None = None
    next_step: Ref | None = None

    @model_validator(mode="after")
    def _text_or_url(self) -> PlayStep:
        if self.text is None and self.url is None:
            raise ValueError("either text or url is required")
        return self


class _Routed(_Step):
    """A step whose routing map the doc's own field list calls `flow` (its example, `next_step`); both work."""

    @model_validator(mode="before")
    @classmethod
    def _flow_is_next_step(cls, data: Any) -> Any:
        if isinstance(data, dict) and "next_step" not in data and "flow" in data:
            return {**data, "next_step": data["flow"]}
        return data


class DigitsStep(_Routed):
    """Collects `count` digits into `variable`; `next_step` maps an input (or `*`, any input) to a step."""

    type: Literal["digits"]
    count: Annotated[int, Strict(), Field(ge=1, le=64), AS_INT]
    variable: Text
    next_step: dict[str, Ref] | Ref | None = None


class HttpNext(_Lenient):
    success: Ref | None = Field(None, description="after a 2xx answer")
    fail: Ref | None = Field(None, description="after any other answer, a timeout or a connection error")


class HttpStep(_Routed):
    """Makes an HTTP request; `{{variable}}` in the URL (and headers/body) is replaced by collected input."""

    type: Literal["http"]
    url: Text
    method: HttpMethod = "GET"
    headers: dict[str, JsonStr] | None = Field(None, description="request headers [inf]")
    body: Any = Field(None, description="request body: a string, or JSON [inf]")
    next_step: HttpNext | Ref | None = None

    @model_validator(mode="after")
    def _shallow_body(self) -> HttpStep:
        if _too_deep(self.body, MAX_BODY_DEPTH):
            raise ValueError(f"body is nested more than {MAX_BODY_DEPTH} levels deep")
        return self


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests more than `limit` arrays/objects (iterative: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class ConnectStep(_Step):
    """Bridges the call to another number (PSTN or internal)."""

    type: Literal["connect"]
    number: Number
    caller_id: Number | None = None
    next_step: Ref | None = None


Step = Annotated[CallStep | PlayStep | DigitsStep | HttpStep | ConnectStep, Field(discriminator="type")]


class Publish(_Lenient):
    """Where real-time call events go (an earlier revision of the doc; samespace.md §4.2) [doc history]."""

    url: Annotated[HttpUrl, Strict(), AS_STR]
    method: Literal["POST", "PUT"] = "POST"


class FlowRequest(_Lenient):
    """`POST /call/flow` (samespace.md §4.2): auth in the body, `record`, and the flow."""

    cloud_id: JsonStr = Field(description="the Samespace cloud (space) id")
    auth_token: JsonStr = Field(description="a user's auth token")
    record: JsonBool = Field(False, description="record the call (defaults to false)")
    flow: list[Step] = Field(min_length=1, max_length=MAX_OBJECTS, description="call flow objects")
    publish: Publish | None = Field(None, description="callback for call events [doc history, inf]")


# -- responses --------------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    success: Literal[False] = False
    message: str


class FlowAccepted(BaseModel):
    success: Literal[True] = True
    call_id: str
    status: str = "queued"


class StepRun(BaseModel):
    seq: int = Field(description="1 for the first executed step")
    id: str
    type: str
    started_at: str
    ended_at: str | None = None
    result: str | None = None
    next_step: str | None = None
    input: str | None = Field(None, description="digits: what was keyed in")
    detail: dict[str, Any] = Field(default_factory=dict)


class HttpCall(BaseModel):
    step_id: str
    method: str
    url: str = Field(description="the URL after `{{variable}}` templating")
    sent_to: str = Field(description="where it went (differs from `url` under an emulator http override)")
    status: int | None = None
    outcome: Literal["success", "fail"]
    response_excerpt: str = ""
    truncated: bool = False
    latency_ms: float = Field(description="on the emulator's clock (0 on a virtual clock)")
    error: str | None = None
    at: str


class CallInfo(BaseModel):
    call_id: str
    cloud_id: str
    status: str
    end_reason: str | None = None
    number: str
    caller_id: str | None = None
    record: bool
    recording_url: str | None = None
    created_at: str
    answered_at: str | None = None
    ended_at: str | None = None
    duration: float | None = Field(
        description="seconds from answer to hang-up once the call has ended (0 when never answered); "
        "null while the call is live"
    )
    current_step: str | None = None
    steps: list[StepRun]
    variables: dict[str, str]
    http: list[HttpCall]


class CallMetadata(BaseModel):
    success: Literal[True] = True
    call: CallInfo


class CallEvent(BaseModel):
    """One callback request per call transition [inf] (samespace.md §4.3)."""

    event: str
    call_id: str
    cloud_id: str
    step_id: str | None = None
    timestamp: str
    data: dict[str, Any]
