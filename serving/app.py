"""The ASGI app: routes, the lifespan that loads and warms the model, and the request/response edges."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from itertools import count
from typing import Any, NamedTuple

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from serving import csvbody, metrics, openapi
from serving.accesslog import AccessLog, file_sink
from serving.batcher import Batcher
from serving.config import Settings, load_settings
from serving.drain import DRAIN, Drain
from serving.errors import ClientError
from serving.model import ModelError, ServedModel, load_model
from serving.outputs import Answer

log = logging.getLogger("modelship")

JSON = "application/json"
PROBES = frozenset({"/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"})
ROUTES = frozenset({*PROBES, "/predict", "/invocations", "/metadata", "/openapi.json"})
CLIENT_GONE = 499  # the client closed the connection before its request arrived; nothing is sent
CONNECTION_CLOSE = (b"connection", b"close")


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer serialised by orjson."""
    return Response(orjson.dumps(body), status, media_type=JSON)


def error(status: int, message: str) -> Response:
    """The one shape of every refusal: {"error": "..."}."""
    return json_response({"error": message}, status)


def is_json(content_type: bytes | None) -> bool:
    """True for application/json and any +json media type, parameters such as charset ignored."""
    if content_type == b"application/json":
        return True
    if not content_type:
        return False
    media = content_type.partition(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def is_csv(content_type: bytes | None) -> bool:
    """True for text/csv, parameters such as charset or header ignored."""
    return content_type is not None and content_type.partition(b";")[0].strip().lower() == b"text/csv"


class Headers(NamedTuple):
    """The request headers the app reads, found in one pass."""

    content_type: bytes | None
    content_length: bytes | None
    request_id: bytes | None


def read_headers(scope: Scope) -> Headers:
    """Content-Type, Content-Length and X-Request-ID of a request (None when absent)."""
    content_type = content_length = request_id = None
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value
        elif key == b"content-length":
            content_length = value
        elif key == b"x-request-id":
            request_id = value
    return Headers(content_type, content_length, request_id)


def too_large(size: int, max_bytes: int) -> ClientError:
    """A 413 saying the limit and how to raise it."""
    return ClientError(
        413,
        f"the request body has {size} bytes or more, over the limit of {max_bytes}; send smaller batches "
        "(the server's limit is MODELSHIP_MAX_BODY_BYTES)",
    )


class Disconnected(Exception):
    """The client went away before its request body arrived."""


def unsupported(content_type: bytes | None, csv: bool) -> ClientError:
    """A 415 naming the content types the route takes."""
    shown = content_type.decode("latin-1") if content_type else "none"
    takes = "application/json (or a +json type)" + (" or text/csv" if csv else "")
    return ClientError(
        415, f"Content-Type must be {takes}, got {shown}; send the header 'Content-Type: application/json'"
    )


async def read_request(receive: Receive, headers: Headers, max_bytes: int, model: ServedModel | None) -> Any:
    """The parsed JSON body, or with a `model` also a text/csv body as its rows; 415, 413 or 400
    ClientErrors for the client's mistakes."""
    if is_json(headers.content_type):
        body = await read_body(receive, headers, max_bytes)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ClientError(400, f"the request body is not valid JSON: {exc}") from None
    if model is not None and is_csv(headers.content_type):
        return csvbody.parse(await read_body(receive, headers, max_bytes), model.kind_of)
    raise unsupported(headers.content_type, csv=model is not None)


async def read_body(receive: Receive, headers: Headers, max_bytes: int) -> bytes:
    """The whole request body; a 413 ClientError past `max_bytes`."""
    declared = headers.content_length
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(int(declared), max_bytes)
    message = await receive()
    body = message.get("body", b"")
    if message.get("more_body", False):
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise too_large(size, max_bytes)
            chunks.append(chunk)
        body = b"".join(chunks)
    elif message["type"] == "http.disconnect":
        raise Disconnected
    if len(body) > max_bytes:
        raise too_large(len(body), max_bytes)
    return body


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Send a complete JSON answer."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
                raise ClientError(503, "the model is still loading; retry when /ready answers 200")
            if self.by_name and scope["path_params"]["name"] != model.name:
                name = scope["path_params"]["name"]
                raise ClientError(404, f"no model named {name!r}; this server serves {model.name!r}")
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
        raise ClientError(503, "the model is still loading; retry when /v2/health/ready answers 200")
    name = request.path_params["name"]
    if name != model.name:
        raise ClientError(404, f"no model named {name!r}; this server serves {model.name!r}")
    return model


async def v2_metadata(request: Request) -> Response:
    """GET /v2/models/{name}."""
    try:
        return json_response(v2_model(request).v2_metadata())
    except ClientError as exc:
        return error(exc.status, exc.message)


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
        return error(503, "the model is still loading; retry when /ready answers 200")
    return json_response(model.metadata())


async def prometheus(request: Request) -> Response:
    """Prometheus exposition."""
    page, content_type = metrics.exposition()
    return Response(page, media_type=content_type)


async def openapi_json(request: Request) -> Response:
    """The OpenAPI document of the served model (made once it is loaded)."""
    document: bytes | None = request.app.state.openapi
    if document is None:
        return error(503, "the model is still loading; retry when /ready answers 200")
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


def route_label(path: str) -> str:
    """The route template of a path, so that metrics keep a bounded set of labels."""
    if path in ROUTES:
        return path
    if path.startswith("/v2/models/"):
        return "/v2/models/{name}/infer" if path.endswith("/infer") else "/v2/models/{name}"
    return "other"


class ModelServer(Starlette):
    """A Starlette app that observes every request and sends POST /predict and /invocations straight to
    their endpoints, past the generic middleware and routing layers (they cost as much as the model).

    Observing a request: a request id (X-Request-ID echoed, or made), the metrics, and an access-log
    line (every request, or only refusals, errors and slow ones; never probes).

    While draining for shutdown, every answer carries `Connection: close`, so keep-alive clients open a
    new connection (to another replica) instead of reusing one that is about to close; at its very end,
    answers wait until the listener has closed (serving.drain).

    A model that cannot be loaded fails the start-up with its one-line reason, not a traceback.
    """

    def __init__(
        self, settings: Settings, access_log: AccessLog | None = None, drain: Drain = DRAIN, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.access_log = access_log
        self.log_every_request = settings.access_log == "all"
        self.slow_seconds = settings.slow_request_ms / 1000
        self.drain = drain
        self.fast = {"/predict": PREDICT, "/invocations": INVOCATIONS}
        self.id_prefix = os.urandom(4).hex().encode()
        self.ids = count(1)
        self.startup_error: str | None = None

    def request_id(self, given: bytes | None) -> bytes:
        """The client's X-Request-ID when it is short and printable, else a new one."""
        if given is not None and 0 < len(given) <= 128 and given.isascii() and given.decode().isprintable():
            return given
        return b"%s-%d" % (self.id_prefix, next(self.ids))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = self.plain_startup_failure(send)
            await super().__call__(scope, receive, send)
            return
        if self.drain.holding:  # shutting down: this client waits instead of opening new connections
            await self.drain.released.wait()
        start = time.perf_counter()
        headers = read_headers(scope)
        request_id = self.request_id(headers.request_id)
        endpoint = self.fast.get(scope["path"]) if scope["method"] == "POST" else None
        status = 500
        try:
            if endpoint is not None:
                scope["app"] = self
                status, body = await endpoint.answer(scope, receive, headers)
                if status != CLIENT_GONE:
                    response_headers = [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                        (b"x-request-id", request_id),
                    ]
                    if self.drain.draining:
                        response_headers.append(CONNECTION_CLOSE)
                    await send({"type": "http.response.start", "status": status, "headers": response_headers})
                    await send({"type": "http.response.body", "body": body})
            else:

                async def send_with_id(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        extra = [(b"x-request-id", request_id)]
                        if self.drain.draining:
                            extra.append(CONNECTION_CLOSE)
                        message["headers"] = [*message.get("headers", ()), *extra]
                    await send(message)

                await super().__call__(scope, receive, send_with_id)
        finally:
            self.observe(scope, status, time.perf_counter() - start, request_id)

    def plain_startup_failure(self, send: Send) -> Send:
        """`send` for the lifespan, with a failed start-up told by its reason when the model is at fault."""

        async def send_plainly(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.startup_error is not None:
                message = {**message, "message": f"modelship: {self.startup_error}"}
            await send(message)

        return send_plainly

    def observe(self, scope: Scope, status: int, elapsed: float, request_id: bytes) -> None:
        """Count every request in the metrics; log it in "all" mode, or when refused, failed or slow."""
        path = scope["path"]
        route = route_label(path)
        metrics.observe(route, status, elapsed)
        if (
            self.access_log is not None
            and (self.log_every_request or status >= 400 or elapsed >= self.slow_seconds)
            and route not in PROBES
        ):
            client = scope.get("client")
            self.access_log.line(
                client[0] if client else "-",
                scope["method"],
                scope.get("raw_path", b"").decode("latin-1") or path,  # undecoded: no newlines to forge lines
                status,
                elapsed,
                request_id.decode(),
            )


def create_app(
    settings: Settings | None = None,
    access_sink: Callable[[bytes], object] | None = None,
    drain: Drain = DRAIN,
) -> ModelServer:
    """The app for `settings` (default: read from the environment); the model loads in the lifespan.

    Access-log lines go to stdout, to MODELSHIP_ACCESS_LOG_FILE when set, or to `access_sink` when given
    (tests). `drain` is the process's drain state (tests give their own).
    """
    settings = settings or load_settings()
    access_log = None
    if settings.access_log != "off":
        if access_sink is None and settings.access_log_file is not None:
            access_sink = file_sink(settings.access_log_file)
        access_log = AccessLog(access_sink, immediate=False if access_sink else None)

    @asynccontextmanager
    async def lifespan(app: ModelServer) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            model = load_model(
                settings.model_dir,
                settings.ort_threads,
                name=settings.model_name,
                version=settings.model_version,
                sha256=settings.model_sha256,
            )
            model.warm_up()
        except ModelError as exc:
            app.startup_error = str(exc)
            raise
        app.state.openapi = orjson.dumps(openapi.document(model))
        app.state.batcher = make_batcher(settings, model)
        app.state.model = model
        log.info(
            "model %s version %s (sha256 %s) loaded and warmed up in %.0f ms, %d onnxruntime thread(s); %s",
            model.name,
            model.version,
            model.sha256[:12],
            (time.perf_counter() - started) * 1000,
            settings.ort_threads,
            batching_summary(settings, app.state.batcher is not None, model),
        )
        chores = [asyncio.create_task(metrics.RECORDER.snapshot_periodically())]
        if access_log is not None:
            chores.append(asyncio.create_task(access_log.flush_periodically()))
        yield
        app.state.model = None
        app.state.batcher = None
        for chore in chores:
            chore.cancel()
            with suppress(asyncio.CancelledError):
                await chore

    app = ModelServer(
        settings,
        access_log,
        drain,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.state.max_body = settings.max_body_bytes
    app.state.model = None
    app.state.openapi = None
    app.state.batcher = None
    return app


def make_batcher(settings: Settings, model: ServedModel) -> Batcher | None:
    """The worker's batcher for /predict and /invocations; None when batching is off, limited to one row,
    or the graph has a fixed batch dimension."""
    if settings.batching == "off" or settings.max_batch_size < 2 or not model.batchable:
        return None
    return Batcher(
        model.run_fetched, settings.max_batch_size, settings.max_batch_delay_ms / 1000, metrics.RECORDER
    )


def batching_summary(settings: Settings, on: bool, model: ServedModel) -> str:
    """The start-up log's words on batching."""
    if on:
        return (
            f"dynamic batching up to {settings.max_batch_size} rows, {settings.max_batch_delay_ms:g} ms delay"
        )
    if settings.batching == "off" or settings.max_batch_size < 2:
        return "dynamic batching off"
    return "dynamic batching off: the graph has a fixed batch dimension"
