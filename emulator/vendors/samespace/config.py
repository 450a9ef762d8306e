"""The `vendors.samespace` section of the config file: clouds (tenants), simulated callees, flow timings.

Nothing about call execution is public (samespace.md §4.3-4.5), so every timing and limit below is an
[inf] default, changeable here, per tenant, from the control plane and in scenarios:

    vendors:
      samespace:
        tenants:
          CLOUD_ID: {auth_token: secret, callback_url: "http://127.0.0.1:9000/events"}
        behaviour: {words_per_minute: 150, digit_timeout: 10, type_ahead: 32, http_timeout: 5, http_fail_fast: 30}
        http_overrides: {"https://crm.example.com": "http://127.0.0.1:9000"}
        numbers:
          "917507161643": {rings: 2, dtmf: ["1234"]}   # a script; default "seeded" digits, or "none"
          "5263": {answer: busy}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from emulator.core.outbound import check_http_url


def _http_url(url: str) -> str:
    problem = check_http_url(url)
    if problem is not None:
        raise ValueError(problem)
    return url


HttpUrl = Annotated[str, Field(pattern=r"^https?://"), AfterValidator(_http_url)]
"""A callback target: checked whole here, so the webhook dispatcher is never handed a URL it cannot parse."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CalleeBehaviour(_Config):
    """How a simulated phone (the `call` step's number, or a `connect` target) behaves."""

    answer: Literal["answer", "busy", "no-answer", "fail"] = Field(
        "answer", description="answer after `rings`, or busy / never answers / the call fails"
    )
    rings: int = Field(2, ge=0, le=60, description="rings before answering (each `ring_seconds` long)")
    dtmf: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=1000)] | Literal["seeded", "none"] = (
        Field(
            "seeded",
            description='what the callee keys in at each `digits` step: a script, in order (e.g. ["1234", "2"]; '
            'nothing once it is used up), "seeded" (digits of the step\'s `count` drawn from the seed, so a flow '
            'runs with no config [inf]) or "none" (never a key: the step times out)',
        )
    )
    dtmf_delay: float = Field(
        2.0, ge=0, le=3600, description="seconds after a digits step starts before keying in, a person's pause [inf]"
    )
    hangup_after: float | None = Field(
        None, gt=0, le=86400, description="the callee hangs up this many seconds after answering (mid-flow)"
    )
    talk_seconds: float = Field(
        30.0, gt=0, le=86400, description="connect targets: seconds the bridged conversation lasts [inf]"
    )

    @field_validator("dtmf")
    @classmethod
    def _keys(cls, value: list[str] | str) -> list[str] | str:
        for keys in value if isinstance(value, list) else ():
            if not keys or any(c not in "0123456789*#" for c in keys):
                raise ValueError(f"{keys!r}: DTMF input is one or more of 0-9 * #")
        return value


class FlowBehaviour(_Config):
    """How flows execute. Every value is an [inf] default (samespace.md §4.4-4.5)."""

    ring_seconds: float = Field(3.0, gt=0, le=60, description="length of one ring")
    no_answer_after: float = Field(30.0, gt=0, le=600, description="an unanswered call gives up after this long")
    words_per_minute: float = Field(150.0, gt=0, le=1000, description="speaking rate of `play` text")
    media_seconds: float = Field(10.0, gt=0, le=3600, description="length of a `play` step's `url` media")
    digit_timeout: float = Field(10.0, gt=0, le=3600, description="a digits step waits this long for input")
    terminator: Literal["#", "*", ""] = Field(
        "#", description="the key that ends a digits step's input early (not stored); empty: none, # is a digit"
    )
    type_ahead: int = Field(
        32,
        ge=0,
        le=64,
        description="keys pressed after answer while no digits step collects (during a prompt...) kept for the "
        "next digits step, as IVRs buffer DTMF; 0: such presses are refused (409 not_collecting)",
    )
    max_steps: int = Field(50, ge=1, le=10_000, description="steps one call may execute (bounds loops)")
    max_call_seconds: float = Field(3600.0, gt=0, le=86400, description="an answered call ends after this long")
    http_timeout: float = Field(5.0, gt=0, le=25, description="wall seconds an `http` step waits for its answer")
    http_fail_fast: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="after a timeout or a failed connection, http steps to the same scheme://host:port fail at once "
        "for this many seconds (emulator safety: the virtual clock stands still while a request runs); 0: off",
    )
    http_parallel: int = Field(
        16,
        ge=1,
        le=256,
        description="virtual clock: http steps of a cloud due at the same instant send their requests together, "
        "this many at a time (emulator speed, not vendor behaviour)",
    )
    http_max_bytes: int = Field(65536, ge=0, le=10_000_000, description="bytes of an http answer read and kept")
    recording_url: str = Field(
        "https://recordings.samespace.invalid/{cloud_id}/{call_id}.mp3",
        description="recording URL of a `record: true` call (`{cloud_id}`, `{call_id}`)",
    )


class TenantConfig(_Config):
    auth_token: str = Field(min_length=1, description="the cloud's auth token (sent in every request body)")
    callback_url: HttpUrl | None = Field(None, description="where this cloud's call events are posted [inf]")
    http_overrides: dict[str, str] | None = Field(None, description="replaces the global `http_overrides`")
    behaviour: FlowBehaviour | None = None
    numbers: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="per-number callee behaviour")


class SamespaceConfig(_Config):
    tenants: dict[str, TenantConfig] = Field(default_factory=dict, description="cloud_id -> its settings")
    behaviour: FlowBehaviour = Field(default_factory=FlowBehaviour, description="default for every cloud")
    default_callee: CalleeBehaviour = Field(default_factory=CalleeBehaviour, description="numbers not listed")
    numbers: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="per-number callee behaviour")
    callback_url: HttpUrl | None = Field(
        None, description="default target of call events (a request's `publish.url` wins) [inf]"
    )
    http_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="emulator feature [inf]: an `http` step URL starting with a key is sent to the value + the rest "
        "(e.g. the seed's `https://subdoomain.domain.com` -> a local server)",
    )
