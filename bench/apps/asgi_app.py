"""The bare-ASGI baseline: no framework, no validation; orjson in, onnxruntime, orjson out.

Run: BENCH_MODEL=model.onnx uvicorn --workers 2 --no-access-log bench.apps.asgi_app:app
"""

from __future__ import annotations

from typing import Any

import orjson

from bench.apps.onnx_feed import open_model

session, inputs, output = open_model()
HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Score a pandas `columns` JSON body POSTed to any path."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    payload = orjson.loads(body)
    feed = {
        graph_input.name: graph_input.array(list(payload[graph_input.name].values()))
        for graph_input in inputs
    }
    prediction = session.run([output], feed)[0]
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send(
        {"type": "http.response.body", "body": orjson.dumps({"prediction": prediction.ravel().tolist()})}
    )
