"""The ASGI app: the server that observes every request, and the lifespan that loads and warms the model
(routes in serving.routes, request and response edges in serving.requests)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from itertools import count
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from serving import metrics, openapi
from serving.accesslog import AccessLog, file_sink
from serving.batcher import Batcher
from serving.config import Settings, load_settings
from serving.drain import DRAIN, Drain
from serving.model import ModelError, ServedModel, load_model
from serving.requests import CLIENT_GONE, read_headers
from serving.routes import INVOCATIONS, PREDICT, PROBES, http_error, route_label, routes

log = logging.getLogger("modelship")

CONNECTION_CLOSE = (b"connection", b"close")


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
