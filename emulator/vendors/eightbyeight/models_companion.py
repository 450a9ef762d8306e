"""Wire models of 8x8's companion APIs, for the contract (`contract.py`); the handlers build plain dicts.

- OAuth token (eightbyeight.md §1.2, "OAuth Authentication for 8x8 XCaaS APIs"): every value is a string.
- Real-time metrics: 8x8's own file `../shared/reference/8x8-cc-realtime-metrics.oas.json` ("RT-OAS <schema>").
- Tenant schedules ("8x8 Contact Center Tenant Schedule API"): the XML layout 8x8 shows, as JSON [inf].
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# -- OAuth ------------------------------------------------------------------------------------------------


class AccessToken(_Wire):
    """A client-credentials access token (eightbyeight.md §1.2)."""

    access_token: str
    token_type: str = Field(description='"BearerToken"')
    expires_in: str = Field(description="seconds, as a string")
    issued_at: str = Field(description="epoch milliseconds, as a string")
    client_id: str
    application_name: str
    api_product_list: str
    api_product_list_json: list[str]
    scope: str
    status: str
    refresh_token_expires_in: str
    refresh_count: str


class OAuthError(_Wire):
    """The token endpoint's error (eightbyeight.md §1.2)."""

    ErrorCode: str
    Error: str


class FaultDetail(_Wire):
    errorcode: str


class Fault(_Wire):
    faultstring: str
    detail: FaultDetail


class GatewayFault(_Wire):
    """The API gateway's answer to a missing, unknown or expired bearer token [inf]."""

    fault: Fault


# -- real-time metrics (RT-OAS) -----------------------------------------------------------------------------


class MetricItem(_Wire):
    key: str
    value: float


class MetricsEntity(_Wire):
    """A queue, group or agent with its metrics (RT-OAS SingleQueueResponse, SingleGroupResponse,
    SingleAgentResponse); `summary=true` leaves the metrics out."""

    id: str
    name: str
    metrics: list[MetricItem] | None = None


class TenantAgent(MetricsEntity):
    """RT-OAS SingleAgentWithMetricsResponse."""

    groupId: str = ""
    groupName: str = ""


class AgentInQueues(_Wire):
    """RT-OAS AgentsInQueueResponse: metric values are strings here."""

    id: str
    name: str
    metrics: dict[str, str]


class QueueAgents(_Wire):
    """RT-OAS QueueAgentsMetricsResponse."""

    queueId: str
    assignedAgents: list[str]
    agentMetrics: list[AgentInQueues]


class AgentsInQueueGroups(_Wire):
    """RT-OAS AgentsInQueueGroupsResponse."""

    agents: list[AgentInQueues]
    queues: list[QueueAgents]


class MetricsError(_Wire):
    """A real-time metrics error [inf: 8x8 documents the statuses but no body; this is its Java stack's]."""

    timestamp: str
    status: int
    error: str
    message: str
    path: str


# -- tenant schedules -----------------------------------------------------------------------------------------


class DayHours(_Wire):
    status: int = Field(description="-1 closed, 0 open from start-time to end-time, 1 open all day [inf]")
    start_time: str = Field(alias="start-time")
    end_time: str = Field(alias="end-time")


class WeekDay(_Wire):
    day: int = Field(description="0 Sunday ... 6 Saturday [inf]")
    properties: DayHours


class WeekDays(_Wire):
    week_day: list[WeekDay] = Field(alias="week-day")


class DateException(_Wire):
    date: str
    properties: DayHours


class Exceptions(_Wire):
    exception: list[DateException]


class Schedule(_Wire):
    id: int
    name: str
    time_zone: str = Field(alias="time-zone")
    week_days: WeekDays = Field(alias="week-days")
    exceptions: Exceptions


class ScheduleList(_Wire):
    schedule: list[Schedule]


class Schedules(_Wire):
    """All schedules of the tenant."""

    schedules: ScheduleList


class OneSchedule(_Wire):
    """One schedule."""

    schedule: Schedule


class Status(_Wire):
    status: int = Field(description="0 open, -1 closed [inf]")


class ScheduleStatus(_Wire):
    """Whether the schedule is open now, on the tenant's clock."""

    schedule_status: Status = Field(alias="schedule-status")


class ScheduleErrorDetail(_Wire):
    code: int
    message: str


class ScheduleError(_Wire):
    """A Tenant Schedule API error [inf]."""

    error: ScheduleErrorDetail


class MetricsEntityList(RootModel[list[MetricsEntity]]):
    """RT-OAS MultiQueueResponse / MultiAgentResponse: a page of queues, groups or agents."""


class TenantAgentList(RootModel[list[TenantAgent]]):
    """RT-OAS AgentsResponse: a page of the tenant's agents."""
