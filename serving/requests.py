"""The request/response edges of the app: headers, bodies and their limits, and JSON answers."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from serving import csvbody
from serving.errors import ClientError
from serving.model import ServedModel

JSON = "application/json"
CLIENT_GONE = 499  # the client closed the connection before its request arrived; nothing is sent


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer serialised by orjson."""
    return Response(orjson.dumps(body), status, media_type=JSON)


def error(status: int, message: str) -> Response:
    """The one shape of every refusal: {"error": "..."}."""
    return json_response({"error": message}, status)


def refused(exc: ClientError) -> Response:
    """The JSON refusal of a ClientError."""
    return error(exc.status, exc.message)


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


def still_loading(ready_route: str = "/ready") -> ClientError:
    """The 503 of every route that needs the model before it is loaded and warmed up."""
    return ClientError(503, f"the model is still loading; retry when {ready_route} answers 200")
