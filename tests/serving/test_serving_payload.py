"""Shape detection of /predict bodies (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from serving.errors import ClientError
from serving.payload import Columns, Rows, Values, json_type, n_rows, parse, type_name


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"x": {"0": 1, "1": 2}}, Columns({"x": [1, 2]}, 2), id="pandas-columns"),
        pytest.param(
            {"x": {"1": 2, "0": 1}, "y": {"0": 3, "1": 4}},
            Columns({"x": [2, 1], "y": [4, 3]}, 2),
            id="pandas-columns-follow-the-first-index",
        ),
        pytest.param({"x": [1, 2]}, Columns({"x": [1, 2]}, 2), id="column-lists"),
        pytest.param({"columns": ["x"], "data": [[1]]}, Rows([[1]], ["x"]), id="split"),
        pytest.param({"columns": ["x"], "index": [0], "data": [[1]]}, Rows([[1]], ["x"]), id="split-index"),
        pytest.param([{"x": 1}, {"x": 2}], Columns({"x": [1, 2]}, 2), id="records"),
        pytest.param([[1, 2]], Rows([[1, 2]], None), id="rows"),
        pytest.param(["a", "b"], Values(["a", "b"]), id="strings"),
        pytest.param([1.5], Values([1.5]), id="numbers"),
        pytest.param(
            {"dataframe_split": {"columns": ["x"], "data": [[1]]}}, Rows([[1]], ["x"]), id="mlflow-split"
        ),
        pytest.param({"dataframe_records": [{"x": 1}]}, Columns({"x": [1]}, 1), id="mlflow-records"),
        pytest.param({"instances": ["a"]}, Values(["a"]), id="mlflow-instances"),
        pytest.param({"inputs": {"x": [1]}}, Columns({"x": [1]}, 1), id="mlflow-inputs-dict"),
        pytest.param({"inputs": [[1]]}, Rows([[1]], None), id="mlflow-inputs-list"),
        pytest.param(
            {"data": {"0": 1}, "columns": {"0": 2}},
            Columns({"data": [1], "columns": [2]}, 1),
            id="columns-named-data-and-columns",
        ),
    ],
)
def test_shapes_are_detected(body: Any, expected: Any) -> None:
    batch = parse(body)
    assert batch == expected
    assert n_rows(batch) == n_rows(expected)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("text", "expected a JSON object or array, got a string", id="string-body"),
        pytest.param(None, "got null", id="null-body"),
        pytest.param([[1], 2], "row 1 is a number", id="row-then-number"),
        pytest.param(["a", ["b"]], "item 1 is an array but item 0 is a string", id="mixed-items"),
        pytest.param([{}], "record 0 is empty", id="empty-record"),
        pytest.param([{"x": 1}, 5], "record 1 is a number", id="record-then-number"),
        pytest.param({"columns": "x", "data": [[1]]}, '"columns" must be a list', id="split-columns-string"),
        pytest.param(
            {"columns": ["x"], "data": {"0": 1}}, '"data" must be a list of rows', id="split-data-object"
        ),
        pytest.param({"instances": 5}, '"instances" must be a list of rows', id="instances-scalar"),
    ],
)
def test_malformed_bodies_are_400s(body: Any, message: str) -> None:
    with pytest.raises(ClientError) as refused:
        parse(body)
    assert refused.value.status == 400
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("value", "bare", "with_article"),
    [
        pytest.param(None, "null", "null", id="null"),
        pytest.param(True, "boolean", "a boolean", id="bool-is-not-a-number"),
        pytest.param(1, "number", "a number", id="int"),
        pytest.param(1.5, "number", "a number", id="float"),
        pytest.param("x", "string", "a string", id="string"),
        pytest.param([1], "array", "an array", id="array"),
        pytest.param({"a": 1}, "object", "an object", id="object"),
    ],
)
def test_json_type_and_its_name_in_messages(value: Any, bare: str, with_article: str) -> None:
    assert (json_type(value), type_name(value)) == (bare, with_article)
