"""Declare each endpoint once: an `Api` builds both the Starlette routes and the OpenAPI document.

An `Api` is a registry, declared at module level next to its handlers. Each handler is decorated with
`API.op(method, path, ...)`, which records one `contracts.Operation` (method, path, parameters, request
body model, reply models and statuses) together with the handler. A handler takes a context first (the
`Emulator` for the control plane and the vendors, the `ScenarioManager` for the scenario endpoints) and
the request; it usually returns `web.reply(SomeOut(...))`, so the model in its `Reply` is what it sends.

    API: Api[Emulator] = Api("Echo (test vendor)", "1", "test-only vendor")

    @API.op("GET", "/echo/v1/items/{item_id}", "getItem", "Get an item",
            {200: Reply("item", ItemOut), 404: Reply("no such item", ErrorOut)}, params=[TENANT, ITEM_ID])
    async def get_item(emu: Emulator, request: Request) -> Response: ...

    API.routes(emu)       # Starlette routes, one Route per path (a 405 lists every method in `Allow`)
    API.openapi()         # the OpenAPI 3.1 document, built without any Emulator

The document never needs a context, so `cxemu contracts export` and the drift tests build it from the
module alone. `mount` is the prefix the routes are mounted under (`/_emulator` for the control plane): the
document shows full paths, the routes are relative to the mount. Several `Api`s may make one document
(`API.openapi(OTHER)`: the control plane and the scenario endpoints).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import Receive, Scope, Send

from emulator.core.contracts import Body, Operation, Param, Reply, TooLarge, WebhookSpec, build_openapi

C = TypeVar("C")
Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[C, Request], Awaitable[Response]]


def route(path: str, handlers: Mapping[str, Endpoint], *, wrap: Callable[[Endpoint], Endpoint] | None = None) -> Route:
    """One Starlette route serving several methods, so a 405 lists every allowed method in `Allow`.

    `handlers` maps an HTTP method to its handler; `wrap` (e.g. `vendor_endpoint` bound to a vendor)
    is applied to each.
    """
    table = {m.upper(): (wrap(fn) if wrap else fn) for m, fn in handlers.items()}
    if len(table) == 1:
        ((method, fn),) = table.items()
        return Route(path, fn, methods=[method])

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await table[method](request)

    dispatch.__name__ = "_".join(getattr(fn, "__name__", m.lower()) for m, fn in table.items())
    if all(getattr(fn, WRAPPED, False) for fn in table.values()):
        setattr(dispatch, WRAPPED, True)
    return MethodRoute(path, dispatch, table)


class MethodRoute(Route):
    """A route of several methods (`route`): the request goes straight to its method's handler, each an ASGI app
    of its own, instead of through a dispatching coroutine; `endpoint` (which dispatches) is what Starlette
    and the contract see. Any other method gets Starlette's 405 with `Allow`."""

    def __init__(self, path: str, endpoint: Endpoint, table: Mapping[str, Endpoint]) -> None:
        super().__init__(path, endpoint, methods=list(table))
        self.table = dict(table)
        """Each method's handler (`vendor_endpoint` wraps each of a vendor's in `create_app`)."""
        self.by_method = {method: request_response(fn) for method, fn in table.items()}
        if "GET" in self.by_method:
            self.by_method.setdefault("HEAD", self.by_method["GET"])

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.by_method.get(scope["method"])
        if app is None:
            await super().handle(scope, receive, send)
        else:
            await app(scope, receive, send)


CONVERTOR = re.compile(r"\{(\w+):\w+\}")
"""A path parameter with a Starlette convertor, e.g. `{path:path}`."""

WRAPPED = "__cxemu_wrapped__"
"""Attribute set on an endpoint that is already wrapped by `plugin.vendor_endpoint` (never wrap twice)."""


@dataclass(frozen=True)
class Declared(Generic[C]):
    """One operation: its contract record and its handler."""

    operation: Operation
    handler: Handler[C]
    relative_path: str


class Api(Generic[C]):
    """A list of declared operations; see the module docstring."""

    def __init__(
        self,
        title: str,
        version: str,
        description: str,
        *,
        mount: str = "",
        tags: Sequence[str] = (),
        wrap: Callable[[Endpoint], Endpoint] | None = None,
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self.mount = mount
        self.tags = tuple(tags)
        self.wrap = wrap
        """Applied to every bound handler (e.g. `web.guarded` for the control plane)."""
        self.declared: list[Declared[C]] = []

    def op(
        self,
        method: str,
        path: str,
        operation_id: str,
        summary: str,
        responses: Mapping[int, Reply],
        *,
        params: Sequence[Param] = (),
        body: Body | None = None,
        security: Sequence[Mapping[str, Sequence[str]]] | None = None,
        description: str = "",
        tags: Sequence[str] | None = None,
    ) -> Callable[[Handler[C]], Handler[C]]:
        """Declare `handler` as `method path`; `path` is relative to the mount and may use a Starlette
        convertor (`{path:path}`), which the contract shows as a plain parameter (`{path}`)."""

        def register(handler: Handler[C]) -> Handler[C]:
            operation = Operation(
                method.upper(),
                self.mount + CONVERTOR.sub(r"{\1}", path),
                operation_id,
                summary,
                responses,
                self.tags if tags is None else tuple(tags),
                params=params,
                body=body,
                security=security,
                description=description,
            )
            self.declared.append(Declared(operation, handler, path))
            return handler

        return register

    @property
    def operations(self) -> list[Operation]:
        return [d.operation for d in self.declared]

    def routes(self, ctx: C, *, wrap: Callable[[Endpoint], Endpoint] | None = None) -> list[BaseRoute]:
        """The handlers bound to `ctx`, one Route per path in declaration order; `wrap` goes outside `self.wrap`."""
        by_path: dict[str, dict[str, Endpoint]] = {}
        for d in self.declared:
            endpoint = bind(d.handler, ctx)
            if self.wrap is not None:
                endpoint = self.wrap(endpoint)
            by_path.setdefault(d.relative_path, {})[d.operation.method] = endpoint
        return [route(path, handlers, wrap=wrap) for path, handlers in by_path.items()]

    def openapi(
        self,
        *more: Api[Any],
        webhooks: Sequence[WebhookSpec] = (),
        security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
        too_large: TooLarge | None = None,
    ) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this API's operations, then those of `more` (`build_openapi`: with the 413
        `too_large` says for each operation whose body the server reads)."""
        operations = [op for api in (self, *more) for op in api.operations]
        return build_openapi(
            title=self.title,
            version=self.version,
            description=self.description,
            operations=operations,
            webhooks=webhooks,
            security_schemes=security_schemes,
            too_large=too_large,
        )


def bind(handler: Handler[C], ctx: C) -> Endpoint:
    """A Starlette endpoint calling `handler(ctx, request)`: a `functools.partial`, which Starlette (and
    `vendor_endpoint`) await as the handler's own coroutine, with no wrapper coroutine per request."""
    endpoint = functools.partial(handler, ctx)
    endpoint.__name__ = getattr(handler, "__name__", "endpoint")  # type: ignore[attr-defined]
    endpoint.__doc__ = handler.__doc__
    return endpoint
