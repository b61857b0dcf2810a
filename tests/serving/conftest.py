"""Fixtures of the serving tests: model folders of every layout, and started apps on them."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from serving.app import create_app
from serving.config import Settings

with warnings.catch_warnings():  # Starlette 1.10 asks for httpx2 but works with the pinned httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from serving_models import (
    matrix_graph,
    mixed_graph,
    numeric_columns_graph,
    save,
    text_graph,
    two_outputs_graph,
    zipmap_model,
)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders by layout name."""
    root = tmp_path_factory.mktemp("models")
    return {
        "matrix_sidecar": save(
            root / "matrix_sidecar", matrix_graph(), {"columns": ["a", "b", "c"], "name": "m"}
        ),
        "matrix_metadata": save(
            root / "matrix_metadata",
            matrix_graph(),
            metadata={"modelship.columns": json.dumps(["a", "b", "c"])},
        ),
        "matrix_bare": save(root / "matrix_bare", matrix_graph()),
        "mixed": save(
            root / "mixed",
            mixed_graph(),
            {
                "name": "mixed",
                "version": "7",
                "outputs": {
                    "total": {"output": "total"},
                    "negated": {"output": "negated"},
                    "name": {"output": "echo", "unwrap": True},
                    "doubled": {"output": "doubled", "dtype": "float"},
                },
            },
        ),
        "text": save(
            root / "text",
            text_graph(),
            {"outputs": {"positive": {"output": "is_hello", "dtype": "bool", "unwrap": True}}},
        ),
        "zipmap": zipmap_model(root / "zipmap"),
        "classifier": zipmap_model(root / "classifier", mapped=False),
        "two_outputs": save(root / "two_outputs", two_outputs_graph()),
        "numeric": save(
            root / "numeric", numeric_columns_graph(), {"outputs": {"total": "total", "double_z": "double_z"}}
        ),
    }


@pytest.fixture(scope="session")
def make_client(models: dict[str, Path]) -> Iterator[Callable[..., TestClient]]:
    """Start the app (lifespan included) on a model by name, once per settings; all closed at the end."""
    clients: dict[tuple[str, tuple[tuple[str, object], ...]], TestClient] = {}

    def make(name: str, **settings: object) -> TestClient:
        key = (name, tuple(sorted(settings.items())))
        if key not in clients:
            options: dict[str, object] = {"access_log": "off", **settings}
            client = TestClient(create_app(Settings(model_dir=models[name], **options)))  # type: ignore[arg-type]
            client.__enter__()
            clients[key] = client
        return clients[key]

    yield make
    for client in clients.values():
        client.__exit__(None, None, None)
