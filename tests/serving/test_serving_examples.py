"""The two verbatim exchanges of the serving issue, and every bundled sample, against the example models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient  # conftest imported it first, quieting its httpx2 warning

from serving.app import create_app
from serving.config import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_client(name: str) -> Iterator[TestClient]:
    """A started app on examples/<name>, or a skip saying which file is missing."""
    folder = EXAMPLES / name
    for required in ("model.onnx", "modelship.json"):
        if not (folder / required).is_file():
            pytest.skip(f"{folder / required} is missing; generate the examples (examples/generate.py)")
    with TestClient(create_app(Settings(model_dir=folder, access_log="off"))) as client:
        yield client


@pytest.fixture(scope="module")
def housing() -> Iterator[TestClient]:
    """The housing regressor, served."""
    yield from example_client("housing")


@pytest.fixture(scope="module")
def sentiment() -> Iterator[TestClient]:
    """The sentiment classifier, served."""
    yield from example_client("sentiment")


def close(actual: Any, expected: Any) -> bool:
    """JSON equality with a float tolerance."""
    if isinstance(expected, float) and not isinstance(actual, bool):
        return isinstance(actual, int | float) and actual == pytest.approx(expected, rel=1e-5, abs=1e-6)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(close, actual, expected))
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(close(actual[k], expected[k]) for k in expected)
        )
    return type(actual) is type(expected) and actual == expected


def test_housing_answers_the_verbatim_pandas_columns_request(housing: TestClient) -> None:
    body = (
        b'{"CHAS": {"0": 0}, "RM": {"0": 6.575}, "TAX": {"0": 296.0}, "PTRATIO": {"0": 15.3}, '
        b'"B": {"0": 396.9}, "LSTAT": {"0": 4.98}}'
    )
    response = housing.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    answer = response.json()
    assert list(answer) == ["prediction"]
    assert len(answer["prediction"]) == 1
    assert isinstance(answer["prediction"][0], float)


def test_sentiment_answers_the_verbatim_requests(sentiment: TestClient) -> None:
    for text, positive in [
        ("MLOps is critical for robustness", True),
        ("Containers are more or less interesting", False),
    ]:
        response = sentiment.post(
            "/predict", content=json.dumps([text]), headers={"content-type": "application/json"}
        )
        assert (response.status_code, response.json()) == (200, {"positive": positive})


@pytest.mark.parametrize("name", ["housing", "sentiment"])
def test_every_bundled_sample_gets_its_expected_answer(name: str, request: pytest.FixtureRequest) -> None:
    client: TestClient = request.getfixturevalue(name)
    samples = json.loads((EXAMPLES / name / "samples.json").read_text())
    assert samples
    for sample in samples:
        response = client.post("/predict", json=sample["request"])
        assert response.status_code == 200, response.text
        assert close(response.json(), sample["response"]), (sample, response.json())
