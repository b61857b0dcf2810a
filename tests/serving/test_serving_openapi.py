"""The model-specific OpenAPI document: valid OpenAPI 3.1 for every model layout, the exact request forms
of each model, RFC 9110 refusals, and a schemathesis run with every check against a served example."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient  # conftest imported it first, quieting its httpx2 warning

from tests.registry import free_port
from tests.serving.fuzz import schemathesis_finds_nothing
from tests.serving.test_serving_process import start_server, wait_ready

Client = Callable[..., TestClient]
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LAYOUTS = ["matrix_sidecar", "matrix_bare", "mixed", "text", "zipmap", "classifier", "two_outputs", "numeric"]
# the verbatim housing request opens samples.json (tests/test_examples.py checks it)
HOUSING = json.loads((EXAMPLES / "housing" / "samples.json").read_text())[0]["request"]
SENTIMENT = ["MLOps is critical for robustness"]


@pytest.fixture(scope="module")
def examples(make_client: Client, models: dict[str, Path]) -> dict[str, Path]:
    """The example model folders, added to the layouts the fixtures serve."""
    for name in ("housing", "sentiment"):
        models[name] = EXAMPLES / name
    return models


def request_schema(document: dict[str, Any], path: str = "/predict") -> dict[str, Any]:
    """The JSON request schema of an operation."""
    return document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def accepts(schema: dict[str, Any], body: Any) -> bool:
    """True when `body` is valid against a JSON Schema 2020-12 `schema`."""
    return jsonschema.Draft202012Validator(schema).is_valid(body)


@pytest.mark.parametrize("layout", ["housing", "sentiment", *LAYOUTS])
def test_document_is_valid_openapi_3_1(layout: str, examples: dict[str, Path], make_client: Client) -> None:
    document = make_client(layout).get("/openapi.json").json()
    validate(document)  # raises on an invalid document
    assert document["openapi"] == "3.1.0"


@pytest.mark.parametrize("layout", ["housing", "sentiment"])
def test_samples_are_examples_that_fit_and_are_accepted(
    layout: str, examples: dict[str, Path], make_client: Client
) -> None:
    client = make_client(layout)
    document = client.get("/openapi.json").json()
    shown = document["paths"]["/predict"]["post"]["requestBody"]["content"]
    values = [example["value"] for example in shown["application/json"]["examples"].values()]
    assert values, "samples.json gives the examples"
    for body in values:
        assert accepts(request_schema(document), body), body
        assert client.post("/predict", json=body).status_code == 200
    table = shown["text/csv"]["examples"]["sample"]["value"]
    assert re.search(shown["text/csv"]["schema"]["pattern"], table)
    assert client.post("/predict", content=table, headers={"content-type": "text/csv"}).status_code == 200


def test_verbatim_requests_fit_their_model_only(examples: dict[str, Path], make_client: Client) -> None:
    housing = make_client("housing").get("/openapi.json").json()
    sentiment = make_client("sentiment").get("/openapi.json").json()
    assert accepts(request_schema(housing), HOUSING)
    assert accepts(request_schema(sentiment), SENTIMENT)
    assert not accepts(request_schema(housing), SENTIMENT), "a bare list does not fit six columns"
    assert not accepts(request_schema(sentiment), HOUSING)
    assert not accepts(
        request_schema(housing, "/invocations"),
        {"CHAS": {"0": "0"}, **{k: v for k, v in HOUSING.items() if k != "CHAS"}},
    )


def test_document_names_columns_types_outputs_and_model(
    examples: dict[str, Path], make_client: Client
) -> None:
    document = make_client("mixed").get("/openapi.json").json()
    forms = {form.get("title"): form for form in request_schema(document)["anyOf"]}
    record = forms["records"]["items"]
    assert list(record["properties"]) == ["count", "ratio", "flag", "name"]
    assert record["properties"]["count"] == {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
    assert record["properties"]["flag"] == {"type": "boolean"}
    assert "values" not in forms, "four columns take no bare list"
    answer = document["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert answer["required"] == ["total", "negated", "name", "doubled"]
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["parameters"][0]["schema"] == {"enum": ["mixed"]}
    assert [
        t["properties"]["name"]
        for t in infer["requestBody"]["content"]["application/json"]["schema"]["properties"]["inputs"][
            "prefixItems"
        ]
    ] == [{"const": name} for name in ("count", "ratio", "flag", "name")]
    keyed = make_client("two_outputs").get("/openapi.json").json()
    nested = keyed["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert nested["properties"]["prediction"]["required"] == ["doubled", "positive"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("PUT", "/predict", "POST", id="put-predict"),
        pytest.param("DELETE", "/openapi.json", "GET, HEAD", id="delete-openapi"),
        pytest.param("GET", "/v2/models/m/infer", "POST", id="get-infer"),
    ],
)
def test_405_names_the_allowed_methods_in_json(
    method: str, path: str, allow: str, make_client: Client
) -> None:
    response = make_client("matrix_sidecar").request(method, path)
    assert response.status_code == 405
    assert sorted(response.headers["allow"].split(", ")) == sorted(allow.split(", "))
    assert response.headers["content-type"] == "application/json"
    assert "Method Not Allowed" in response.json()["error"]


def test_404_stays_json(make_client: Client) -> None:
    response = make_client("matrix_sidecar").get("/nowhere")
    assert (response.status_code, response.headers["content-type"]) == (404, "application/json")
    assert "/openapi.json" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]], "extra": 1}},
            id="split-extra-key",
        ),
        pytest.param(
            {"columns": ["a", "b", "c"], "data": [[1, 2, 3]], "index": 5}, id="split-index-not-a-list"
        ),
    ],
)
def test_split_form_outside_the_schema_is_refused(body: Any, make_client: Client) -> None:
    response = make_client("matrix_sidecar").post("/predict", json=body)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "outputs", [[], [{"name": {}}], [{"name": 3}]], ids=["empty", "object-name", "number-name"]
)
def test_v2_outputs_of_the_wrong_shape_are_refused(outputs: Any, make_client: Client) -> None:
    body = {
        "inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
        "outputs": outputs,
    }
    response = make_client("matrix_bare").post("/v2/models/model/infer", json=body)
    assert response.status_code == 400, response.text


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`python -m serving` on examples/<param> at a loopback port; killed at the end whatever happened."""
    port = free_port()
    log = tmp_path / "server.log"
    process = start_server(EXAMPLES / request.param, port, log, MODELSHIP_WORKERS="1")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, log=log)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("served", ["housing", "sentiment"], indirect=True)
def test_schemathesis_finds_nothing_with_every_check(served: str, tmp_path: Path) -> None:
    schemathesis_finds_nothing(served, tmp_path)
