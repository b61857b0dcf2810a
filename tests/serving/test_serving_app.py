"""The serving app over HTTP (Starlette's TestClient, lifespan included) on tiny purpose-built models."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
from http_exchanges import Client, predict, refused
from starlette.testclient import TestClient  # conftest imported it first, quieting its httpx2 warning

from serving.accesslog import AccessLog
from serving.app import create_app
from serving.config import Settings
from serving.drain import Drain

# ---- input shapes --------------------------------------------------------------------------------

# y = a + 10 b + 100 c, so every answer shows the column order the model received.
MATRIX_SHAPES = [
    pytest.param({"a": {"0": 1}, "b": {"0": 2}, "c": {"0": 3}}, [321.0], id="pandas-columns"),
    pytest.param(
        {"c": {"0": 3, "1": 1}, "a": {"0": 1, "1": 0}, "b": {"1": 0, "0": 2}},
        [321.0, 100.0],
        id="pandas-columns-any-order",
    ),
    pytest.param({"columns": ["c", "b", "a"], "data": [[3, 2, 1]]}, [321.0], id="split-reordered"),
    pytest.param(
        {"columns": ["a", "b", "c"], "index": [7, 8], "data": [[1, 2, 3], [0, 0, 1]]},
        [321.0, 100.0],
        id="split-with-index",
    ),
    pytest.param([{"a": 1, "b": 2, "c": 3}, {"c": 1, "a": 0, "b": 0}], [321.0, 100.0], id="records"),
    pytest.param(
        {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}},
        [321.0],
        id="mlflow-dataframe-split",
    ),
    pytest.param({"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}, [321.0], id="mlflow-dataframe-records"),
    pytest.param({"instances": [{"a": 1, "b": 2, "c": 3}]}, [321.0], id="mlflow-instances-records"),
    pytest.param({"instances": [[1, 2, 3]]}, [321.0], id="mlflow-instances-rows"),
    pytest.param(
        {"inputs": {"a": [1, 0], "b": [2, 0], "c": [3, 1]}}, [321.0, 100.0], id="mlflow-inputs-columns"
    ),
    pytest.param({"inputs": [[1, 2, 3]]}, [321.0], id="mlflow-inputs-rows"),
    pytest.param([[1, 2, 3], [0, 0, 1]], [321.0, 100.0], id="bare-rows"),
    pytest.param({"a": [1], "b": [2], "c": [3.5]}, [371.0], id="column-lists"),
]


@pytest.mark.parametrize("model", ["matrix_sidecar", "matrix_metadata"])
@pytest.mark.parametrize(("body", "expected"), MATRIX_SHAPES)
def test_one_2d_input_takes_every_shape_in_the_declared_column_order(
    make_client: Client, model: str, body: Any, expected: list[float]
) -> None:
    assert predict(make_client(model), body) == (200, {"prediction": expected})


def test_a_2d_input_without_declared_columns_takes_rows_and_refuses_names(make_client: Client) -> None:
    client = make_client("matrix_bare")
    assert predict(client, [[1, 2, 3]]) == (200, {"prediction": [321.0]})
    assert "declares no column names" in refused(client, [{"a": 1, "b": 2, "c": 3}])


def test_per_column_inputs_of_mixed_dtypes_and_several_outputs(make_client: Client) -> None:
    client = make_client("mixed")
    status, answer = predict(client, [{"count": 3, "ratio": 0.25, "flag": True, "name": "ada"}])
    assert status == 200
    # several outputs -> the configured fields; "name" unwraps its single row, "doubled" is cast to float
    assert answer == {"total": [3.25], "negated": [False], "name": "ada", "doubled": [6.0]}
    assert isinstance(answer["doubled"][0], float)


def test_per_column_inputs_from_split_rows_and_pandas_columns(make_client: Client) -> None:
    client = make_client("mixed")
    split = {"columns": ["name", "flag", "ratio", "count"], "data": [["x", False, 1.5, 1], ["y", True, 0, 2]]}
    expected = {"total": [2.5, 2.0], "negated": [True, False], "name": ["x", "y"], "doubled": [2.0, 4.0]}
    assert predict(client, split) == (200, expected)
    columns = {
        "count": {"0": 1, "1": 2},
        "ratio": {"0": 1.5, "1": 0},
        "flag": {"0": False, "1": True},
        "name": {"0": "x", "1": "y"},
    }
    assert predict(client, columns) == (200, expected)
    rows = [[1, 1.5, False, "x"], [2, 0, True, "y"]]  # the graph's input order
    assert predict(client, rows) == (200, expected)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(["Hello"], {"positive": True}, id="one-string-unwrapped"),
        pytest.param(["nope"], {"positive": False}, id="one-string-false"),
        pytest.param(["HELLO", "bye"], {"positive": [True, False]}, id="two-strings-stay-a-list"),
        pytest.param({"instances": ["hello"]}, {"positive": True}, id="mlflow-instances"),
        pytest.param({"inputs": ["hello"]}, {"positive": True}, id="mlflow-inputs"),
        pytest.param([{"text": "hello"}], {"positive": True}, id="records"),
        pytest.param({"text": {"0": "hello"}}, {"positive": True}, id="pandas-columns"),
    ],
)
def test_a_string_input_and_a_bool_unwrapped_field(make_client: Client, body: Any, expected: Any) -> None:
    assert predict(make_client("text"), body) == (200, expected)


def test_zipmap_probabilities_come_back_as_maps_keyed_by_label(make_client: Client) -> None:
    status, answer = predict(make_client("zipmap"), [{"x": 2.0, "y": 0.0}, {"x": -2.0, "y": 0.0}])
    assert status == 200
    assert answer["label"] == ["dog", "cat"]
    first, second = answer["probabilities"]
    assert set(first) == {"cat", "dog"}
    assert first["dog"] > 0.5 > second["dog"]
    assert first["cat"] + first["dog"] == pytest.approx(1.0, abs=1e-5)


def test_default_response_is_the_first_output_with_n_by_1_squeezed(make_client: Client) -> None:
    status, answer = predict(make_client("matrix_bare"), [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert (status, answer) == (200, {"prediction": [1.0, 10.0, 100.0]})


NUMERIC = {"x": {"0": 1, "1": 2}, "y": {"0": 0.5, "1": 1.5}, "z": {"0": 1, "1": 2.5}}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(NUMERIC, id="pandas-columns"),
        pytest.param({**NUMERIC, "y": {"1": 1.5, "0": 0.5}}, id="pandas-columns-other-index-order"),
        pytest.param({"x": [1, 2], "y": [0.5, 1.5], "z": [1, 2.5]}, id="column-lists"),
        pytest.param([{"x": 1, "y": 0.5, "z": 1}, {"x": 2, "y": 1.5, "z": 2.5}], id="records"),
        pytest.param({**NUMERIC, "x": {"0": 1.0, "1": 2.0}}, id="integral-floats-for-int64"),
    ],
)
def test_numeric_columns_of_several_dtypes_and_ranks(make_client: Client, body: Any) -> None:
    assert predict(make_client("numeric"), body) == (200, {"total": [1.5, 3.5], "double_z": [2.0, 5.0]})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param({**NUMERIC, "w": {"0": 1, "1": 2}}, ["unknown column 'w'"], id="extra-column"),
        pytest.param({"x": NUMERIC["x"], "y": NUMERIC["y"]}, ["missing column 'z'"], id="missing-column"),
        pytest.param(
            {**NUMERIC, "y": {"0": "abc", "1": 1}}, ["column 'y'", "expected a number"], id="string"
        ),
        pytest.param(
            {**NUMERIC, "x": {"0": 1.5, "1": 2}}, ["column 'x'", "expected an integer"], id="fraction"
        ),
        pytest.param({**NUMERIC, "z": {"0": 1, "2": 2}}, ["column 'z'", "row '1'"], id="other-index"),
        pytest.param({**NUMERIC, "z": {"0": 1}}, ["column 'z'", "lacks row '1'"], id="short-column"),
        pytest.param({"x": {}, "y": {}, "z": {}}, ["empty batch"], id="empty"),
        pytest.param({**NUMERIC, "z": {"0": [1], "1": [2]}}, ["column 'z'", "shape"], id="nested-values"),
    ],
)
def test_numeric_columns_refusals(make_client: Client, body: Any, words: list[str]) -> None:
    message = refused(make_client("numeric"), body)
    for word in words:
        assert word in message


# ---- /invocations --------------------------------------------------------------------------------


def test_invocations_answers_like_mlflow(make_client: Client) -> None:
    body = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}
    assert predict(make_client("matrix_sidecar"), body, "/invocations") == (200, {"predictions": [321.0]})
    status, answer = predict(make_client("zipmap"), {"inputs": [[2.0, 0.0]]}, "/invocations")
    assert status == 200
    assert [set(record) for record in answer["predictions"]] == [{"label", "probabilities"}]
    assert answer["predictions"][0]["label"] == "dog"
    assert refused(make_client("matrix_sidecar"), [], path="/invocations").startswith("empty batch")


# ---- every output ----------------------------------------------------------------------------------


def test_several_unmapped_outputs_all_come_back_keyed_by_name(make_client: Client) -> None:
    client = make_client("two_outputs")
    both = {"doubled": [3.0, -4.0], "positive": [True, False]}
    assert predict(client, [1.5, -2]) == (200, {"prediction": both})
    assert predict(client, {"inputs": [1.5, -2]}, "/invocations") == (200, {"predictions": both})


def test_a_classifier_answers_its_label_and_its_probabilities(make_client: Client) -> None:
    client = make_client("classifier")
    status, answer = predict(client, [{"x": 2.0, "y": 0.0}, {"x": -2.0, "y": 0.0}])
    assert status == 200
    assert list(answer) == ["prediction"]
    assert answer["prediction"]["output_label"] == ["dog", "cat"]
    first, second = answer["prediction"]["output_probability"]  # ZipMap: one map per row
    assert first["dog"] > 0.5 > second["dog"]
    status, mlflow = predict(
        client, {"dataframe_split": {"columns": ["x", "y"], "data": [[2, 0]]}}, "/invocations"
    )
    assert status == 200
    assert mlflow["predictions"]["output_label"] == ["dog"]
    assert set(mlflow["predictions"]["output_probability"][0]) == {"cat", "dog"}


def test_metadata_and_openapi_describe_the_answer_a_client_gets(make_client: Client) -> None:
    client = make_client("two_outputs")
    responses = client.get("/metadata").json()["responses"]
    keyed = responses["/predict"]["properties"]["prediction"]
    assert keyed["required"] == ["doubled", "positive"]
    assert keyed["properties"]["doubled"] == {"type": "array", "items": {"type": ["number", "null"]}}
    assert keyed["properties"]["positive"] == {"type": "array", "items": {"type": "boolean"}}
    assert responses["/invocations"]["properties"]["predictions"] == keyed
    document = client.get("/openapi.json").json()
    answer = document["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"] == responses["/predict"]
    single = make_client("matrix_sidecar").get("/metadata").json()["responses"]
    assert single["/predict"]["properties"]["prediction"] == {
        "type": "array",
        "items": {"type": ["number", "null"]},
    }
    assert single["/invocations"]["properties"]["predictions"]["type"] == "array"
    unwrapped = make_client("text").get("/metadata").json()["responses"]["/predict"]["properties"]["positive"]
    assert {"type": "boolean"} in unwrapped["oneOf"]


# ---- text/csv ------------------------------------------------------------------------------------


def post_csv(client: TestClient, text: str, path: str = "/predict") -> tuple[int, Any]:
    """POST a text/csv body; the status and the parsed JSON answer."""
    response = client.post(path, content=text.encode(), headers={"content-type": "text/csv; charset=utf-8"})
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("model", "text", "path", "expected"),
    [
        pytest.param(
            "matrix_sidecar", "a,b,c\n1,2,3\n0,0,1\n", "/predict", {"prediction": [321.0, 100.0]}, id="rows"
        ),
        pytest.param(
            "matrix_sidecar",
            "c,a,b\r\n3,1,2\r\n",
            "/invocations",
            {"predictions": [321.0]},
            id="reordered-crlf",
        ),
        pytest.param(
            "matrix_sidecar",
            ",a,b,c\n0,1,2,3\n",
            "/predict",
            {"prediction": [321.0]},
            id="pandas-index-column",
        ),
        pytest.param(
            "mixed",
            'name,flag,ratio,count\n"x, quoted",False,1.5,1\ny,true,0,2\n',
            "/predict",
            {
                "total": [2.5, 2.0],
                "negated": [True, False],
                "name": ["x, quoted", "y"],
                "doubled": [2.0, 4.0],
            },
            id="per-column-types",
        ),
        pytest.param("text", "text\nhello\n", "/predict", {"positive": True}, id="strings"),
        pytest.param(
            "two_outputs",
            "x\n1.5\n",
            "/invocations",
            {"predictions": {"doubled": [3.0], "positive": [True]}},
            id="two-outputs",
        ),
    ],
)
def test_csv_bodies_are_read_by_the_model_input_types(
    make_client: Client, model: str, text: str, path: str, expected: Any
) -> None:
    assert post_csv(make_client(model), text, path) == (200, expected)


@pytest.mark.parametrize(
    ("model", "text", "words"),
    [
        pytest.param(
            "matrix_sidecar",
            "a,b,c\n1,abc,3\n",
            ["column 'b' (row 0): expected a number", '"abc"'],
            id="text-for-float",
        ),
        pytest.param(
            "matrix_sidecar",
            "a,b,c\n1,,3\n",
            ["column 'b' (row 0): expected a number, got null"],
            id="empty-cell",
        ),
        pytest.param(
            "matrix_sidecar",
            "a,b,c\n1,2,3\n1,true,3\n",
            ["column 'b' (row 1): expected a number, got a boolean"],
            id="boolean-for-float",
        ),
        pytest.param(
            "mixed",
            "count,ratio,flag,name\n1.5,1,true,x\n",
            ["column 'count' (row 0): expected an integer", "1.5"],
            id="fraction-for-int",
        ),
        pytest.param(
            "mixed",
            "count,ratio,flag,name\n1,1,1,x\n",
            ["column 'flag' (row 0): expected a boolean, got a number 1"],
            id="one-for-bool",
        ),
        pytest.param("matrix_sidecar", "a,b,c,d\n1,2,3,4\n", ["unknown column 'd'"], id="unknown-column"),
        pytest.param("matrix_sidecar", "a,b\n1,2\n", ["missing column 'c'"], id="missing-column"),
        pytest.param(
            "matrix_sidecar",
            "a,b,c\n1,2,3\n1,2\n",
            ["CSV line 3 has 2 fields", "the header has 3"],
            id="short-line",
        ),
        pytest.param("matrix_sidecar", 'a,b,c\n1,"2,3\n', ["CSV line 2", "not valid CSV"], id="open-quote"),
        pytest.param("matrix_sidecar", "a,b,a\n1,2,3\n", ["CSV line 1", "'a' twice"], id="duplicate-header"),
        pytest.param(
            "matrix_sidecar", "a,,c\n1,2,3\n", ["CSV line 1: column 2 has no name"], id="unnamed-column"
        ),
        pytest.param("matrix_sidecar", "a,b,c\n", ["empty batch", "no rows"], id="header-only"),
        pytest.param("matrix_sidecar", "", ["no header row"], id="empty-body"),
    ],
)
def test_bad_csv_is_a_400_naming_the_line_or_the_column(
    make_client: Client, model: str, text: str, words: list[str]
) -> None:
    status, answer = post_csv(make_client(model), text)
    assert status == 400, answer
    for word in words:
        assert word in answer["error"]


def test_csv_shares_the_body_limit_and_is_only_for_predict_and_invocations(make_client: Client) -> None:
    client = make_client("matrix_sidecar", max_body_bytes=64)
    assert post_csv(client, "a,b,c\n1,2,3\n")[0] == 200
    status, answer = post_csv(client, "a,b,c\n" + "1,2,3\n" * 20)
    assert status == 413
    assert "MODELSHIP_MAX_BODY_BYTES" in answer["error"]
    status, answer = post_csv(make_client("matrix_sidecar"), "X\n1\n", "/v2/models/m/infer")
    assert status == 415
    assert "application/json (or a +json type), got text/csv" in answer["error"]
    assert "not UTF-8" in post_csv_bytes(make_client("matrix_sidecar"), b"a,b,c\n\xff,2,3\n")


def post_csv_bytes(client: TestClient, data: bytes) -> str:
    """POST raw bytes as text/csv that must be refused with a 400; the message."""
    response = client.post("/predict", content=data, headers={"content-type": "text/csv"})
    assert response.status_code == 400
    return str(response.json()["error"])


# ---- client mistakes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param([], ["empty batch"], id="empty-list"),
        pytest.param({}, ["empty batch"], id="empty-object"),
        pytest.param({"columns": ["a", "b", "c"], "data": []}, ["empty batch"], id="empty-split"),
        pytest.param({"a": {}, "b": {}, "c": {}}, ["empty batch"], id="empty-columns"),
        pytest.param({"instances": []}, ["empty batch"], id="empty-instances"),
        pytest.param(5, ["expected a JSON object or array"], id="scalar-body"),
        pytest.param([[1, 2, 3], [1, 2]], ["row 1", "2 values"], id="ragged-rows"),
        pytest.param([[1, 2]], ["2 values", "takes 3"], id="short-rows"),
        pytest.param(
            {"columns": ["a", "b", "c"], "data": [[1, 2, 3, 4]]}, ["row 0", "4 values"], id="long-split-row"
        ),
        pytest.param([{"a": 1, "b": 2, "c": 3, "d": 4}], ["unknown column 'd'"], id="unknown-column"),
        pytest.param([{"a": 1, "b": 2}], ["missing column 'c'"], id="missing-column"),
        pytest.param([{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}], ["record 1", "'c'"], id="uneven-records"),
        pytest.param(
            {"a": {"0": 1}, "b": {"0": 2, "1": 3}, "c": {"0": 3}},
            ["column 'b'", "row '1'"],
            id="uneven-columns",
        ),
        pytest.param(
            {"a": {"0": 1}, "b": {"1": 2}, "c": {"0": 3}}, ["column 'b'", "row '0'"], id="other-index"
        ),
        pytest.param(
            [{"a": 1, "b": "abc", "c": 3}],
            ["column 'b'", "expected a number", '"abc"'],
            id="string-for-float",
        ),
        pytest.param([[1, None, 3]], ["column 'b'", "expected a number", "null"], id="null-for-float"),
        pytest.param([[1, 2, [3]]], ["uneven"], id="nested-value"),
        pytest.param(["x", "y"], ["one input column", "columns a, b, c"], id="strings-for-three-columns"),
        pytest.param({"a": 5, "b": 1, "c": 1}, ["column 'a'", "expected an object"], id="scalar-column"),
        pytest.param(
            {"dataframe_split": [1]}, ['"dataframe_split" must be an object'], id="bad-dataframe-split"
        ),
        pytest.param({"dataframe_records": [[1, 2, 3]]}, ["list of records"], id="rows-as-records"),
        pytest.param(
            {"columns": ["a", "a", "b"], "data": [[1, 2, 3]]}, ["twice"], id="duplicate-split-columns"
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(make_client: Client, body: Any, words: list[str]) -> None:
    message = refused(make_client("matrix_sidecar"), body)
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("record", "words"),
    [
        pytest.param(
            {"count": 1.5}, ["column 'count'", "expected an integer", "1.5"], id="fraction-for-int64"
        ),
        pytest.param({"count": "3"}, ["column 'count'", "expected an integer", '"3"'], id="string-for-int64"),
        pytest.param({"count": 2**63}, ["column 'count'", "out of range for int64"], id="past-int64"),
        pytest.param(
            {"count": 1e30}, ["column 'count'", "1e+30 is out of range for int64"], id="huge-for-int64"
        ),
        pytest.param(
            {"ratio": "abc"}, ["column 'ratio'", "expected a number", '"abc"'], id="string-for-double"
        ),
        pytest.param({"flag": "yes"}, ["column 'flag'", "expected a boolean"], id="string-for-bool"),
        pytest.param({"flag": 2}, ["column 'flag'", "expected a boolean", "2"], id="two-for-bool"),
        pytest.param({"name": 5}, ["column 'name'", "expected a string", "5"], id="number-for-string"),
        pytest.param({"name": None}, ["column 'name'", "expected a string", "null"], id="null-for-string"),
    ],
)
def test_wrong_types_per_dtype_are_refused(
    make_client: Client, record: dict[str, Any], words: list[str]
) -> None:
    body = [{"count": 1, "ratio": 0.5, "flag": True, "name": "x", **record}]
    message = refused(make_client("mixed"), body)
    for word in words:
        assert word in message


def test_integral_floats_for_int_and_integers_for_float_are_accepted(make_client: Client) -> None:
    status, answer = predict(make_client("mixed"), [{"count": 2.0, "ratio": 1, "flag": True, "name": "x"}])
    assert status == 200
    assert answer["doubled"] == [4.0]
    assert answer["total"] == [3.0]
    assert answer["negated"] == [False]


@pytest.mark.parametrize(
    ("model", "body", "words"),
    [
        pytest.param(
            "mixed",
            [{"count": 1, "ratio": True, "flag": True, "name": "x"}],
            ["column 'ratio' (row 0): expected a number, got a boolean"],
            id="true-for-double",
        ),
        pytest.param(
            "mixed",
            [
                {"count": 1, "ratio": 0.5, "flag": True, "name": "x"},
                {"count": False, "ratio": 1, "flag": True, "name": "y"},
            ],
            ["column 'count' (row 1): expected an integer, got a boolean"],
            id="false-for-int64-in-row-1",
        ),
        pytest.param(
            "mixed",
            [{"count": 1, "ratio": 0.5, "flag": 1, "name": "x"}],
            ["column 'flag' (row 0): expected a boolean, got a number 1"],
            id="one-for-bool",
        ),
        pytest.param(
            "mixed",
            {"count": [1, 2], "ratio": [0.5, 1], "flag": [True, 0], "name": ["x", "y"]},
            ["column 'flag' (row 1): expected a boolean, got a number 0"],
            id="zero-for-bool-in-a-column",
        ),
        pytest.param(
            "numeric",
            {**NUMERIC, "y": {"0": 0.5, "1": True}},
            ["column 'y' (row 1): expected a number, got a boolean"],
            id="pandas-columns-fast-path",
        ),
        pytest.param(
            "numeric",
            {**NUMERIC, "x": {"0": True, "1": 2}},
            ["column 'x' (row 0): expected an integer, got a boolean"],
            id="pandas-columns-fast-path-int",
        ),
        pytest.param(
            "matrix_sidecar",
            [[1, 2, 3], [1, False, 3]],
            ["column 'b' (row 1): expected a number, got a boolean"],
            id="matrix-rows",
        ),
        pytest.param(
            "matrix_sidecar",
            [[True, False, True]],
            ["column 'a' (row 0): expected a number, got a boolean"],
            id="matrix-all-booleans",
        ),
    ],
)
def test_booleans_and_numbers_do_not_stand_in_for_each_other(
    make_client: Client, model: str, body: Any, words: list[str]
) -> None:
    message = refused(make_client(model), body)
    for word in words:
        assert word in message


def test_numbers_for_a_string_model_are_refused(make_client: Client) -> None:
    assert "expected a string" in refused(make_client("text"), [1, 2])


def test_not_json_is_a_400(make_client: Client) -> None:
    response = make_client("matrix_sidecar").post(
        "/predict", content=b'{"a": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"]
)
def test_content_type_other_than_json_is_a_415(make_client: Client, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = make_client("matrix_sidecar").post("/predict", content=b"[[1, 2, 3]]", headers=headers)
    assert response.status_code == 415
    assert "application/json (or a +json type) or text/csv" in response.json()["error"]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
def test_json_content_types_are_accepted(make_client: Client, content_type: str) -> None:
    response = make_client("matrix_sidecar").post(
        "/predict", content=b"[[1, 2, 3]]", headers={"content-type": content_type}
    )
    assert (response.status_code, response.json()) == (200, {"prediction": [321.0]})


def test_a_body_over_the_limit_is_a_413(make_client: Client) -> None:
    client = make_client("matrix_sidecar", max_body_bytes=64)
    assert predict(client, [[1, 2, 3]]) == (200, {"prediction": [321.0]})
    message = refused(client, [[1, 2, 3]] * 20, 413)
    assert "64" in message
    assert "MODELSHIP_MAX_BODY_BYTES" in message

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b"["
        for _ in range(20):
            yield b"[1, 2, 3],"
        yield b"[1, 2, 3]]"

    response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_routes_and_methods_answer_json(make_client: Client) -> None:
    client = make_client("matrix_sidecar")
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert "/nowhere" in missing.json()["error"]
    wrong_method = client.get("/predict")
    assert wrong_method.status_code == 405
    assert "GET /predict" in wrong_method.json()["error"]


def test_the_server_keeps_serving_after_bad_requests_and_internal_errors(
    make_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client("matrix_sidecar")
    for body in ([], [[1]], {"a": "x"}, [{"z": 1}]):
        assert predict(client, body)[0] == 400
    model = client.app.state.model  # type: ignore[attr-defined]

    def broken(*args: object) -> None:
        raise RuntimeError("simulated failure inside onnxruntime")

    monkeypatch.setattr(model, "run", broken)
    status, answer = predict(client, [[1, 2, 3]])
    assert status == 500
    assert "server log" in answer["error"]
    assert "simulated" not in answer["error"]  # internals stay in the log
    monkeypatch.undo()
    assert predict(client, [[1, 2, 3]]) == (200, {"prediction": [321.0]})


# ---- probes, metadata, OpenAPI, metrics, request ids, access log ---------------------------------


def test_draining_says_not_ready_and_closes_every_connection(models: dict[str, Path]) -> None:
    drain = Drain()
    settings = Settings(model_dir=models["matrix_sidecar"], access_log="off")
    with TestClient(create_app(settings, drain=drain)) as client:
        assert client.get("/ready").status_code == 200
        assert "connection" not in client.post("/predict", json=[[1, 2, 3]]).headers
        drain.begin()
        assert (client.get("/ready").status_code, client.get("/ready").json()) == (
            503,
            {"status": "draining"},
        )
        assert client.get("/v2/health/ready").json() == {"ready": False}
        answers = [
            client.post("/predict", json=[[1, 2, 3]]),
            client.post("/invocations", json=[[1, 2, 3]]),
            client.post("/predict", json=[]),
            client.get("/metadata"),
            client.get("/health"),
        ]
        assert [a.status_code for a in answers] == [200, 200, 400, 200, 200]
        assert all(a.headers["connection"] == "close" for a in answers)


def test_health_and_readiness(make_client: Client, models: dict[str, Path]) -> None:
    client = make_client("matrix_sidecar")
    assert client.get("/health").json() == {"status": "alive"}
    assert client.get("/ready").json() == {"status": "ready"}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    # Without the lifespan the model is not loaded: not ready, and /predict says so.
    cold = TestClient(create_app(Settings(model_dir=models["matrix_sidecar"], access_log="off")))
    assert cold.get("/health").status_code == 200
    assert cold.get("/ready").status_code == 503
    assert cold.get("/v2/health/ready").status_code == 503
    response = cold.post("/predict", json=[[1, 2, 3]])
    assert response.status_code == 503
    assert "/ready" in response.json()["error"]


def test_metadata_reads_the_graph_and_the_model_folder(make_client: Client, models: dict[str, Path]) -> None:
    answer = make_client("matrix_sidecar").get("/metadata").json()
    assert answer["name"] == "m"
    assert answer["version"] == "0"
    assert (
        answer["sha256"] == hashlib.sha256((models["matrix_sidecar"] / "model.onnx").read_bytes()).hexdigest()
    )
    assert answer["onnxruntime"] == ort.__version__
    assert answer["inputs"] == [{"name": "X", "dtype": "float", "shape": [None, 3]}]
    assert answer["outputs"] == [{"name": "Y", "dtype": "float", "shape": [None, 1]}]
    assert answer["columns"] == ["a", "b", "c"]
    mixed = make_client("mixed").get("/metadata").json()
    assert (mixed["name"], mixed["version"]) == ("mixed", "7")
    assert [(i["name"], i["dtype"]) for i in mixed["inputs"]] == [
        ("count", "int64"),
        ("ratio", "double"),
        ("flag", "bool"),
        ("name", "string"),
    ]
    zipmap = make_client("zipmap").get("/metadata").json()
    assert zipmap["outputs"][1]["dtype"].startswith("seq(map(")


def test_settings_override_the_model_identity(models: dict[str, Path]) -> None:
    settings = Settings(
        model_dir=models["matrix_sidecar"],
        access_log="off",
        model_name="boston",
        model_version="3",
        model_sha256="f" * 64,
    )
    with TestClient(create_app(settings)) as client:
        answer = client.get("/metadata").json()
        assert (answer["name"], answer["version"], answer["sha256"]) == ("boston", "3", "f" * 64)
        assert client.get("/v2/models/boston").status_code == 200


def count_of(page: str, route: str, status: int) -> float:
    """The value of modelship_requests_total for a route and status on a metrics page (0 when absent)."""
    pattern = rf'^modelship_requests_total\{{route="{re.escape(route)}",status="{status}"\}} (\S+)$'
    found = re.search(pattern, page, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_by_route_and_status(make_client: Client) -> None:
    client = make_client("matrix_sidecar")
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/predict", json=[[1, 2, 3]])
    client.post("/predict", json=[])
    client.post(
        "/v2/models/m/infer",
        json={"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
    )
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    assert count_of(after, "/predict", 200) - count_of(before, "/predict", 200) == 3
    assert count_of(after, "/predict", 400) - count_of(before, "/predict", 400) == 1
    assert (
        count_of(after, "/v2/models/{name}/infer", 200) - count_of(before, "/v2/models/{name}/infer", 200)
        == 1
    )
    assert re.search(
        r'^modelship_request_seconds_bucket\{le="\+Inf",route="/predict"\} \d', after, re.MULTILINE
    )
    assert re.search(r'^modelship_request_seconds_sum\{route="/predict"\} ', after, re.MULTILINE)


def test_request_ids_are_echoed_or_made(make_client: Client) -> None:
    client = make_client("matrix_sidecar")
    echoed = client.post("/predict", json=[[1, 2, 3]], headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    first = client.post("/predict", json=[[1, 2, 3]]).headers["x-request-id"]
    second = client.get("/metadata").headers["x-request-id"]
    assert first
    assert second != first
    refused_id = client.post("/predict", json=[], headers={"x-request-id": "err-1"})
    assert refused_id.headers["x-request-id"] == "err-1"


def test_all_mode_logs_one_line_per_request_without_probes(models: dict[str, Path]) -> None:
    written: list[bytes] = []
    settings = Settings(model_dir=models["matrix_sidecar"], access_log="all")
    with TestClient(create_app(settings, access_sink=written.append)) as client:
        client.post("/predict", json=[[1, 2, 3]], headers={"x-request-id": "req-7"})
        client.post("/predict", json=[])
        client.get("/predict%0Afake 200")  # a newline in the path cannot forge a line
        for probe in ("/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"):
            client.get(probe)
        assert written == []  # buffered until the periodic flush or shutdown
    lines = b"".join(written).decode().splitlines()
    assert len(lines) == 3
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(stamp + r' \S+ "POST /predict" 200 \d+\.\d\dms id=req-7', lines[0]), lines[0]
    assert '"POST /predict" 400 ' in lines[1]
    assert '"GET /predict%0Afake%20200" 404 ' in lines[2]


def test_errors_mode_logs_refusals_and_slow_requests_only_and_still_counts_all(
    models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[bytes] = []
    settings = Settings(model_dir=models["matrix_sidecar"], slow_request_ms=200)
    assert settings.access_log == "errors"  # the default
    with TestClient(create_app(settings, access_sink=written.append)) as client:
        before = client.get("/metrics").text
        for _ in range(50):
            assert client.post("/predict", json=[[1, 2, 3]]).status_code == 200
        client.post("/predict", json=[[1, 2]], headers={"x-request-id": "bad-1"})
        client.get("/nowhere", headers={"x-request-id": "lost-1"})
        model = client.app.state.model  # type: ignore[attr-defined]
        run = model.run

        def slow_run(*args: Any) -> Any:
            time.sleep(0.25)
            return run(*args)

        monkeypatch.setattr(model, "run", slow_run)
        assert (
            client.post("/predict", json=[[1, 2, 3]], headers={"x-request-id": "slow-1"}).status_code == 200
        )
        monkeypatch.undo()
        after = client.get("/metrics").text
    lines = b"".join(written).decode().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["id=bad-1", "id=lost-1", "id=slow-1"]
    assert '"POST /predict" 400 ' in lines[0]
    assert '"GET /nowhere" 404 ' in lines[1]
    assert '"POST /predict" 200 ' in lines[2]
    assert count_of(after, "/predict", 200) - count_of(before, "/predict", 200) == 51  # counted, not logged


def test_access_log_lines_go_out_in_whole_line_batches() -> None:
    written: list[bytes] = []
    log = AccessLog(written.append, immediate=False)
    for i in range(200):
        log.line("127.0.0.1", "POST", "/predict", 200, 0.001, f"id-{i}")
    log.flush()
    assert all(len(chunk) <= 4096 and chunk.endswith(b"\n") for chunk in written)
    assert len(written) > 1
    lines = b"".join(written).decode().splitlines()
    assert [line.rsplit("=", 1)[1] for line in lines] == [f"id-{i}" for i in range(200)]


def test_access_log_lines_can_go_to_a_file_shared_by_workers(models: dict[str, Path], tmp_path: Path) -> None:
    log_file = tmp_path / "access.log"
    log_file.write_text("an earlier line\n")
    settings = Settings(model_dir=models["matrix_sidecar"], access_log="all", access_log_file=log_file)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        first.post("/predict", json=[[1, 2, 3]], headers={"x-request-id": "w1"})
        second.post("/predict", json=[[1, 2, 3]], headers={"x-request-id": "w2"})
    lines = log_file.read_text().splitlines()
    assert lines[0] == "an earlier line"
    assert sorted(line.rsplit(" ", 1)[1] for line in lines[1:]) == ["id=w1", "id=w2"]


def test_access_log_switched_off_writes_nothing(models: dict[str, Path], tmp_path: Path) -> None:
    written: list[bytes] = []
    settings = Settings(model_dir=models["matrix_sidecar"], access_log="off")
    with TestClient(create_app(settings, access_sink=written.append)) as client:
        assert client.post("/predict", json=[[1, 2, 3]]).status_code == 200
        assert client.post("/predict", json=[]).status_code == 400
    assert written == []
    unused = tmp_path / "never" / "access.log"  # not even opened: its folder does not exist
    settings = Settings(model_dir=models["matrix_sidecar"], access_log="off", access_log_file=unused)
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict", json=[[1, 2, 3]]).status_code == 200
    assert not unused.parent.exists()
