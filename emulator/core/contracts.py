"""OpenAPI 3.1 documents built from pydantic models: paths plus a `webhooks:` section.

A vendor (or the control plane) describes its operations as `Operation`s and its outbound events as
`WebhookSpec`s; `build_openapi` turns them into one document whose schemas are the models' JSON Schemas
under `components/schemas`. `cxemu contracts export` writes them to `contracts/<slug>.openapi.yaml`, a test
fails when the checked-in files drift, and schemathesis runs each one against the app.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.json_schema import (
    CoreModeRef,
    DefsRef,
    GenerateJsonSchema,
    JsonSchemaMode,
    models_json_schema,
)

from emulator.core.httpguard import REASONS
from emulator.core.limits import BODILESS

REF = "#/components/schemas/{model}"
RESPONSE_REF = "#/components/responses/{name}"
MODE_TITLES = {"validation": "Input", "serialization": "Output"}
"""What pydantic appends to a schema's name when a model's input and output schemas differ."""
VENDOR_MODULE = re.compile(r"emulator\.vendors\.(\w+)\.")


@dataclass(frozen=True)
class Param:
    name: str
    location: Literal["path", "query", "header"]
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Body:
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: Mapping[str, Any] | None = None
    """A literal schema instead of a model (e.g. multipart or a free-form object)."""
    required: bool = True


@dataclass(frozen=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    schema: Mapping[str, Any] | None = None
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    responses: Mapping[int, Reply]
    tags: Sequence[str] = ()
    params: Sequence[Param] = ()
    body: Body | None = None
    security: Sequence[Mapping[str, Sequence[str]]] | None = None
    description: str = ""


@dataclass(frozen=True)
class WebhookSpec:
    name: str
    model: type[BaseModel]
    summary: str
    headers: Sequence[Param] = ()


def _closes() -> dict[str, Any]:
    """The `Connection: close` header of the server's refusals (a new one each time: no YAML aliases)."""
    return {"Connection": {"description": "the server closes the connection after it", "schema": {"const": "close"}}}


def _server_reply(status: int, why: str) -> dict[str, Any]:
    reason = REASONS[status].decode()
    return {
        "description": f"{why}: the HTTP server's own answer (`core/httpguard.py`), the same for any path",
        "headers": _closes(),
        "content": {"text/plain": {"schema": {"type": "string", "const": reason}}},
    }


SERVER_REPLIES = {
    408: (
        "RequestTimeout",
        _server_reply(408, "the request had not fully arrived `request_timeout` s after its first byte"),
    ),
    431: (
        "RequestHeaderFieldsTooLarge",
        _server_reply(431, "the request head is over `max_header_bytes` or `max_headers`"),
    ),
}
"""What the server answers itself before any route sees the request: declared on every operation of every document
(a `$ref` to `components/responses`), since any request may get them."""

TooLarge = Callable[["Operation"], "Reply"]
"""The 413 an API answers for an operation's body over the limit (`core.limits`), in the API's own error shape
(`too_large_reply`); not asked of a method whose body the server never reads (`limits.BODILESS`)."""


def too_large_reply(model: type[BaseModel], media_type: str = "application/json") -> Reply:
    """A 413 in an API's error shape, `model` (`core.limits` renders it with the vendor's `render_error`)."""
    why = "the body is over `max_body_bytes` (`max_upload_bytes` for multipart/form-data); the connection is closed"
    return Reply(why, model, media_type=media_type, headers=_closes())


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, without the `title` noise on every property."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def get_defs_ref(self, core_mode_ref: CoreModeRef) -> DefsRef:
        """When two models share a name (8x8's and Sangoma's `AgentAction` in the control plane's document), the
        vendor's slug tells them apart (`eightbyeight_AgentAction`) before pydantic's module path would."""
        key = super().get_defs_ref(core_mode_ref)
        choices = self._prioritized_defsref_choices[key]
        vendor = VENDOR_MODULE.match(core_mode_ref[0])
        if vendor is not None:
            named = DefsRef(f"{vendor[1]}_{choices[0]}")
            choices[2:2] = [named, DefsRef(f"{named}-{MODE_TITLES[core_mode_ref[1]]}")]
        return key


def _schemas(models: Iterable[tuple[type[BaseModel], JsonSchemaMode]]) -> tuple[dict[Any, Any], dict[str, Any]]:
    unique = list(dict.fromkeys(models))
    if not unique:
        return {}, {}
    refs, top = models_json_schema(unique, ref_template=REF, schema_generator=_Generator)
    return refs, top.get("$defs", {})


def build_openapi(
    *,
    title: str,
    version: str,
    description: str,
    operations: Sequence[Operation],
    webhooks: Sequence[WebhookSpec] = (),
    security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
    servers: Sequence[str] = ("http://localhost:8080",),
    too_large: TooLarge | None = None,
) -> dict[str, Any]:
    """The document; every operation also gets the server's own 408 and 431 (`SERVER_REPLIES`) and, when it has a
    method whose body the server reads, `too_large(op)` as its 413 (unless it declares one itself)."""
    replies: list[dict[int, Reply]] = []
    for op in operations:
        own = dict(op.responses)
        if too_large is not None and op.method not in BODILESS:  # the server never reads their bodies
            own.setdefault(413, too_large(op))
        replies.append(own)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for op, own in zip(operations, replies, strict=True):
        if op.body is not None and op.body.model is not None:
            wanted.append((op.body.model, "validation"))
        wanted.extend((r.model, "serialization") for r in own.values() if r.model is not None)
    wanted.extend((w.model, "serialization") for w in webhooks)
    refs, defs = _schemas(wanted)

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, dict[str, Any]] = {}
    for op, own in zip(operations, replies, strict=True):
        entry: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
        if op.description:
            entry["description"] = op.description
        if op.tags:
            entry["tags"] = list(op.tags)
        if op.params:
            entry["parameters"] = [_param(p) for p in op.params]
        if op.body is not None:
            schema = ref(op.body.model, "validation") if op.body.model is not None else dict(op.body.schema or {})
            entry["requestBody"] = {"required": op.body.required, "content": {op.body.media_type: {"schema": schema}}}
        responses: dict[int, Any] = {
            status: {"$ref": RESPONSE_REF.format(name=name)}
            for status, (name, _) in SERVER_REPLIES.items()
            if status not in own
        }
        for status, reply in own.items():
            out: dict[str, Any] = {"description": reply.description}
            if reply.headers:
                out["headers"] = {k: dict(v) for k, v in reply.headers.items()}
            if reply.model is not None or reply.schema is not None:
                schema = ref(reply.model, "serialization") if reply.model is not None else dict(reply.schema or {})
                out["content"] = {reply.media_type: {"schema": schema}}
            responses[status] = out
        entry["responses"] = {str(status): responses[status] for status in sorted(responses)}
        if op.security is not None:
            entry["security"] = [{k: list(v) for k, v in s.items()} for s in op.security]
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    hooks: dict[str, Any] = {}
    for hook in webhooks:
        post: dict[str, Any] = {
            "operationId": f"webhook_{hook.name}".replace(".", "_"),
            "summary": hook.summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(hook.model, "serialization")}},
            },
            "responses": {"200": {"description": "any 2xx acknowledges the event; anything else is retried"}},
        }
        if hook.headers:
            post["parameters"] = [_param(p) for p in hook.headers]
        hooks[hook.name] = {"post": post}

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": s} for s in servers],
        "paths": paths,
    }
    if hooks:
        doc["webhooks"] = hooks
    components: dict[str, Any] = {}
    if operations:
        components["responses"] = {name: copy.deepcopy(reply) for name, reply in SERVER_REPLIES.values()}
    if defs:
        components["schemas"] = dict(sorted(defs.items()))
    if security_schemes:
        components["securitySchemes"] = {k: dict(v) for k, v in security_schemes.items()}
    if components:
        doc["components"] = components
    return doc


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.location, "required": p.required or p.location == "path"}
    if p.description:
        out["description"] = p.description
    out["schema"] = dict(p.schema)
    return out


def to_yaml(doc: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=120)
