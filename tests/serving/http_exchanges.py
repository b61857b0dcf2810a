"""The HTTP exchanges the serving tests share: POST a JSON body, read the answer or the refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

Client = Callable[..., TestClient]


def predict(client: TestClient, body: Any, path: str = "/predict") -> tuple[int, Any]:
    """POST a JSON body; the status and the parsed answer."""
    response = client.post(path, json=body)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


def refused(client: TestClient, body: Any, status: int = 400, path: str = "/predict") -> str:
    """POST a body that must be refused with `status` and a JSON {"error"}; the message."""
    code, answer = predict(client, body, path)
    assert code == status, answer
    assert set(answer) == {"error"}
    return str(answer["error"])
