"""The routes: the raw ASGI endpoints that answer with the model, the probes, and the router's refusals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from serving import metrics
from serving.batcher import Batcher
from serving.errors import ClientError
from serving.model import ServedModel
from serving.outputs import Answer
from serving.requests import (
    CLIENT_GONE,
    JSON,
    Disconnected,
    Headers,
    error,
    json_response,
    read_headers,
    read_request,
    refused,
    send_json,
    still_loading,
)

log = logging.getLogger("modelship")

PROBES = frozenset({"/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"})


def check_name(model: ServedModel, name: str) -> None:
    """The 404 of a /v2/models/{name} route whose name is not the served model's."""
    if name != model.name:
        raise ClientError(404, f"no model named {name!r}; this server serves {model.name!r}")


class Answering:
    """A raw ASGI endpoint (no Request/Response objects on the hot path): JSON (or CSV) in, `method`'s
    JSON out."""

    def __init__(
        self, method: Callable[[ServedModel, Any], dict[str, Any]], by_name: bool = False, csv: bool = False
    ) -> None:
        self.method = method
        self.by_name = by_name
        self.csv = csv

    async def answer(self, scope: Scope, receive: Receive, headers: Headers) -> tuple[int, bytes]:
        """Status and JSON body for a request; never raises (4xx for the client's mistakes, 500 otherwise)."""
        state = scope["app"].state
        model: ServedModel | None = state.model
        try:
            if model is None:
                raise still_loading()
            if self.by_name:
                check_name(model, scope["path_params"]["name"])
            body = await read_request(receive, headers, state.max_body, model if self.csv else None)
            return 200, orjson.dumps(await self.result(model, body, state.batcher))
        except ClientError as exc:
            return exc.status, orjson.dumps({"error": exc.message})
        except Disconnected:
            return CLIENT_GONE, b""
        except Exception:  # the server keeps serving; the log has the traceback
            log.exception("unexpected error answering %s", scope["path"])
            return (
                500,
                b'{"error":"the server failed to answer this request; the server log has the details"}',
            )

    async def result(self, model: ServedModel, body: Any, batcher: Batcher | None) -> dict[str, Any]:
        """The answer's JSON object for a parsed body."""
        return self.method(model, body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await self.answer(scope, receive, read_headers(scope))
        if status != CLIENT_GONE:
            await send_json(send, status, body)


class Scoring(Answering):
    """/predict and /invocations: the body is checked first (its own 4xx), then its rows run in the
    worker's batcher, gathered with other requests' rows, or alone when batching is off."""

    def __init__(self, form: Callable[[Answer, dict[str, list[Any]], int], dict[str, Any]]) -> None:
        super().__init__(lambda model, body: form(model.answer_shape, *model.answer(body)), csv=True)
        self.form = form

    async def result(self, model: ServedModel, body: Any, batcher: Batcher | None) -> dict[str, Any]:
        if batcher is None:
            return self.method(model, body)
        feeds, rows = model.prepare(body)
        return self.form(model.answer_shape, model.values(await batcher.submit(feeds, rows)), rows)


PREDICT = Scoring(Answer.predict)
INVOCATIONS = Scoring(Answer.invocations)


def v2_model(request: Request) -> ServedModel:
    """The loaded model when the path names it, else a 404/503 ClientError."""
    model: ServedModel | None = request.app.state.model
    if model is None:
        raise still_loading("/v2/health/ready")
    check_name(model, request.path_params["name"])
    return model


async def v2_metadata(request: Request) -> Response:
    """GET /v2/models/{name}."""
    try:
        return json_response(v2_model(request).v2_metadata())
    except ClientError as exc:
        return refused(exc)


async def health(request: Request) -> Response:
    """Alive as long as the process answers."""
    return json_response({"status": "alive"})


async def ready(request: Request) -> Response:
    """200 once the model is loaded and warmed up, 503 before that and while draining for shutdown."""
    if request.app.drain.draining:
        return json_response({"status": "draining"}, 503)
    if request.app.state.model is None:
        return json_response({"status": "loading"}, 503)
    return json_response({"status": "ready"})


async def v2_live(request: Request) -> Response:
    """Open Inference Protocol liveness."""
    return json_response({"live": True})


async def v2_ready(request: Request) -> Response:
    """Open Inference Protocol readiness."""
    is_ready = request.app.state.model is not None and not request.app.drain.draining
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


async def metadata(request: Request) -> Response:
    """The model's identity and signature."""
    model: ServedModel | None = request.app.state.model
    if model is None:
        return refused(still_loading())
    return json_response(model.metadata())


async def prometheus(request: Request) -> Response:
    """Prometheus exposition."""
    page, content_type = metrics.exposition()
    return Response(page, media_type=content_type)


async def openapi_json(request: Request) -> Response:
    """The OpenAPI document of the served model (made once it is loaded)."""
    document: bytes | None = request.app.state.openapi
    if document is None:
        return refused(still_loading())
    return Response(document, media_type=JSON)


async def http_error(request: Request, exc: Exception) -> Response:
    """404/405 from the router, as JSON like every other refusal, with the router's headers: a 405
    carries `Allow`, the methods the route supports (RFC 9110 §15.5.6 requires it)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    headers = exc.headers if isinstance(exc, HTTPException) else None
    answer = error(status, f"{detail}: {request.method} {request.url.path}; see /openapi.json for the routes")
    answer.headers.update(headers or {})
    return answer


routes = [
    Route("/predict", PREDICT, methods=["POST"]),
    Route("/invocations", INVOCATIONS, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metadata", metadata, methods=["GET"]),
    Route("/metrics", prometheus, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/v2/health/live", v2_live, methods=["GET"]),
    Route("/v2/health/ready", v2_ready, methods=["GET"]),
    Route("/v2/models/{name}", v2_metadata, methods=["GET"]),
    Route("/v2/models/{name}/infer", Answering(ServedModel.infer_v2, by_name=True), methods=["POST"]),
]

ROUTES = frozenset(route.path for route in routes if "{" not in route.path)  # the paths without parameters


def route_label(path: str) -> str:
    """The route template of a path, so that metrics keep a bounded set of labels."""
    if path in ROUTES:
        return path
    if path.startswith("/v2/models/"):
        return "/v2/models/{name}/infer" if path.endswith("/infer") else "/v2/models/{name}"
    return "other"
