"""The `vendors.samespace` section of the config file: clouds (tenants), simulated callees, flow timings.

Nothing about call execution is public (samespace.md §4.3-4.5), so every timing and limit below is an
[inf] default, changeable here, per tenant, from the control plane and in scenarios:

    vendors:
      samespace:
        tenants:
          CLOUD_ID: {auth_token: secret, callback_url: "http://127.0.0.1:9000/events"}
        behaviour: {words_per_minute: 150, digit_timeout: 10, http_timeout: 5}
        http_overrides: {"https://crm.example.com": "http://127.0.0.1:9000"}
        numbers:
          "917507161643": {rings: 2, dtmf: ["1234"]}
          "5263": {answer: busy}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CalleeBehaviour(_Config):
    """How a simulated phone (the `call` step's number, or a `connect` target) behaves."""

    answer: Literal["answer", "busy", "no-answer", "fail"] = Field(
        "answer", description="answer after `rings`, or busy / never answers / the call fails"
    )
    rings: int = Field(2, ge=0, le=60, description="rings before answering (each `ring_seconds` long)")
    dtmf: list[str] = Field(
        default_factory=list,
        description='what the callee keys in at each `digits` step, in order (e.g. ["1234", "2"]); '
        "nothing once the list is used up",
    )
    dtmf_delay: float = Field(2.0, ge=0, le=3600, description="seconds after a digits step starts before keying in")
    hangup_after: float | None = Field(
        None, gt=0, le=86400, description="the callee hangs up this many seconds after answering (mid-flow)"
    )
    talk_seconds: float = Field(
        30.0, gt=0, le=86400, description="connect targets: seconds the bridged conversation lasts [inf]"
    )

    @field_validator("dtmf")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for keys in value:
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
    max_steps: int = Field(50, ge=1, le=10_000, description="steps one call may execute (bounds loops)")
    max_call_seconds: float = Field(3600.0, gt=0, le=86400, description="an answered call ends after this long")
    http_timeout: float = Field(5.0, gt=0, le=25, description="wall seconds an `http` step waits for its answer")
    http_max_bytes: int = Field(65536, ge=0, le=10_000_000, description="bytes of an http answer read and kept")
    recording_url: str = Field(
        "https://recordings.samespace.invalid/{cloud_id}/{call_id}.mp3",
        description="recording URL of a `record: true` call (`{cloud_id}`, `{call_id}`)",
    )


class TenantConfig(_Config):
    auth_token: str = Field(min_length=1, description="the cloud's auth token (sent in every request body)")
    callback_url: str | None = Field(
        None, pattern=r"^https?://", description="where this cloud's call events are posted [inf]"
    )
    http_overrides: dict[str, str] | None = Field(None, description="replaces the global `http_overrides`")
    behaviour: FlowBehaviour | None = None
    numbers: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="per-number callee behaviour")


class SamespaceConfig(_Config):
    tenants: dict[str, TenantConfig] = Field(default_factory=dict, description="cloud_id -> its settings")
    behaviour: FlowBehaviour = Field(default_factory=FlowBehaviour, description="default for every cloud")
    default_callee: CalleeBehaviour = Field(default_factory=CalleeBehaviour, description="numbers not listed")
    numbers: dict[str, CalleeBehaviour] = Field(default_factory=dict, description="per-number callee behaviour")
    callback_url: str | None = Field(
        None, pattern=r"^https?://", description="default target of call events (a request's `publish.url` wins) [inf]"
    )
    http_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="emulator feature [inf]: an `http` step URL starting with a key is sent to the value + the rest "
        "(e.g. the seed's `https://subdoomain.domain.com` -> a local server)",
    )
