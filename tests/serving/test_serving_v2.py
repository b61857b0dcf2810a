"""The Open Inference Protocol (serving.v2) over HTTP, on tiny purpose-built models."""

from __future__ import annotations

from typing import Any

import pytest
from http_exchanges import Client, predict, refused


def test_v2_infer_with_a_2d_tensor(make_client: Client) -> None:
    body = {
        "id": "r1",
        "inputs": [{"name": "X", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 0, 0, 1]}],
    }
    status, answer = predict(make_client("matrix_sidecar"), body, "/v2/models/m/infer")
    assert status == 200
    assert answer == {
        "model_name": "m",
        "model_version": "0",
        "id": "r1",
        "outputs": [{"name": "Y", "shape": [2, 1], "datatype": "FP32", "data": [321.0, 100.0]}],
    }


def test_v2_infer_with_one_tensor_per_column(make_client: Client) -> None:
    body = {
        "inputs": [
            {"name": "count", "shape": [2, 1], "datatype": "INT64", "data": [[1], [2]]},
            {"name": "ratio", "shape": [2, 1], "datatype": "FP64", "data": [0.5, 0.25]},
            {"name": "flag", "shape": [2, 1], "datatype": "BOOL", "data": [True, False]},
            {"name": "name", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "b"]},
        ],
        "outputs": [{"name": "total"}, {"name": "echo"}],
    }
    status, answer = predict(make_client("mixed"), body, "/v2/models/mixed/infer")
    assert status == 200
    assert answer["id"]
    assert answer["outputs"] == [
        {"name": "total", "shape": [2, 1], "datatype": "FP64", "data": [1.5, 2.25]},
        {"name": "echo", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "b"]},
    ]


def test_v2_infer_leaves_out_non_tensor_outputs(make_client: Client) -> None:
    client = make_client("zipmap")
    body: dict[str, Any] = {"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP32", "data": [2, 0]}]}
    status, answer = predict(client, body, "/v2/models/model/infer")
    assert status == 200
    assert [(o["name"], o["datatype"], o["data"]) for o in answer["outputs"]] == [
        ("output_label", "BYTES", ["dog"])
    ]
    body["outputs"] = [{"name": "output_probability"}]
    assert "not a tensor" in refused(client, body, path="/v2/models/model/infer")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param({}, ['"inputs"'], id="no-inputs"),
        pytest.param(
            {"inputs": [{"name": "Z", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
            ["unknown input 'Z'"],
            id="unknown-input",
        ),
        pytest.param(
            {"inputs": [{"name": "X", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
            ["needs 6 values", "holds 3"],
            id="shape-and-data-disagree",
        ),
        pytest.param(
            {"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]},
            ["input 'X'", "[1, 2]", "[N, 3]"],
            id="wrong-width",
        ),
        pytest.param(
            {"inputs": [{"name": "X", "shape": [1, 3], "datatype": "BYTES", "data": ["a", "b", "c"]}]},
            ["BYTES", "FP32"],
            id="wrong-datatype",
        ),
        pytest.param(
            {"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, "b", 3]}]},
            ["input 'X'", "expected a number"],
            id="string-in-fp32",
        ),
        pytest.param(
            {"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32"}]}, ['"data"'], id="no-data"
        ),
        pytest.param(
            {"inputs": [{"name": "X", "shape": [0, 3], "datatype": "FP32", "data": []}]},
            ["empty batch"],
            id="empty",
        ),
        pytest.param(
            {
                "inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
                "outputs": [{"name": "nope"}],
            },
            ["unknown output 'nope'"],
            id="unknown-output",
        ),
    ],
)
def test_v2_infer_refuses_bad_requests(make_client: Client, body: Any, words: list[str]) -> None:
    message = refused(make_client("matrix_sidecar"), body, path="/v2/models/m/infer")
    for word in words:
        assert word in message


def test_v2_missing_inputs_and_unknown_models(make_client: Client) -> None:
    client = make_client("mixed")
    body = {"inputs": [{"name": "count", "shape": [1, 1], "datatype": "INT64", "data": [1]}]}
    assert "missing input 'ratio'" in refused(client, body, path="/v2/models/mixed/infer")
    unknown = b"{\"error\":\"no model named 'other'; this server serves 'mixed'\"}"
    for answer in client.post("/v2/models/other/infer", json=body), client.get("/v2/models/other"):
        assert (answer.status_code, answer.headers["content-type"], answer.content) == (
            404,
            "application/json",
            unknown,
        )


def test_v2_model_metadata(make_client: Client) -> None:
    answer = make_client("mixed").get("/v2/models/mixed").json()
    assert answer["name"] == "mixed"
    assert answer["versions"] == ["7"]
    assert answer["platform"] == "onnxruntime_onnx"
    assert answer["inputs"][0] == {"name": "count", "datatype": "INT64", "shape": [-1, 1]}
    assert {o["name"] for o in answer["outputs"]} == {"total", "negated", "echo", "doubled"}
