"""Payloads from a model's signature (scripts.payloads): what the smoke test and the int8 gate send, checked
against the serving code itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from scripts import payloads
from scripts.payloads import Input, Signature
from serving.errors import ClientError
from serving.model import load_model

HOUSING = Path(__file__).resolve().parents[1] / "examples" / "housing"


def metadata(inputs: list[tuple[str, str, list[Any] | None]], **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": n, "dtype": t, "shape": s} for n, t, s in inputs], **extra}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            metadata([("x", "float", [None, 4])]),
            Signature((Input("x", "float", (None, 4)),), (), True),
            id="one-2d-input-is-a-matrix",
        ),
        pytest.param(
            metadata([("x", "float", [None, 1])]),
            Signature((Input("x", "float", (None, 1)),), ("x",), False),
            id="one-column",
        ),
        pytest.param(
            metadata([("x", "float", [None, 2])], columns=["a", "b"], input_mode="matrix"),
            Signature((Input("x", "float", (None, 2)),), ("a", "b"), True),
            id="declared-columns",
        ),
        pytest.param(
            metadata(
                [("a", "int64", [None, 1]), ("b", "string", [None])], columns=["a", "b"], input_mode="columns"
            ),
            Signature((Input("a", "int64", (None, 1)), Input("b", "string", (None,))), ("a", "b"), False),
            id="input-per-column",
        ),
        pytest.param(
            metadata([("x", "float", ["N", -1, 3])]),
            Signature((Input("x", "float", (None, None, 3)),), ("x",), False),
            id="symbolic-dims-are-none",
        ),
    ],
)
def test_signature(body: dict[str, Any], expected: Signature) -> None:
    assert payloads.signature(body) == expected


def test_signature_needs_inputs() -> None:
    with pytest.raises(ValueError, match="no inputs"):
        payloads.signature({"inputs": []})


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        pytest.param("float", [0.5, 0.625, 1.25], id="float"),
        pytest.param("int64", [0, 2, 1], id="int"),
        pytest.param("bool", [True, False, False], id="bool"),
        pytest.param("string", ["modelship smoke test sample", *payloads.SAMPLE_TEXTS[1:2] * 2], id="string"),
    ],
)
def test_scalar_values_are_deterministic_and_typed(dtype: str, values: list[Any]) -> None:
    assert [payloads.scalar(dtype, r, c) for r, c in [(0, 0), (0, 1), (1, 0)]] == values


def test_tensor_has_the_row_shape() -> None:
    value = payloads.tensor("float", (2, 3), 0, 0)
    assert [len(value), len(value[0])] == [2, 3]
    assert len(set(payloads.flatten(value))) == 6


@pytest.mark.parametrize(
    ("shape", "sizes"),
    [
        pytest.param([None, 3], (1, 3), id="dynamic"),
        pytest.param([1, 3], (1,), id="fixed-1"),
        pytest.param([2, 3], (2,), id="fixed-2"),
    ],
)
def test_batch_sizes(shape: list[int | None], sizes: tuple[int, ...]) -> None:
    assert payloads.signature(metadata([("x", "float", shape)])).batch_sizes == sizes


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([5.0], 99, 5.0, id="single"),
        pytest.param([float(v) for v in range(1, 101)], 50, 50.0, id="p50-of-100"),
        pytest.param([float(v) for v in range(1, 101)], 99, 99.0, id="p99-of-100"),
        pytest.param([float(v) for v in range(200, 0, -1)], 99, 198.0, id="p99-of-200-unsorted"),
        pytest.param([1.0, 2.0, 3.0], 100, 3.0, id="max"),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert payloads.percentile(values, q) == expected


def save_model(tmp_path: Path, graph: onnx.GraphProto, columns: list[str] | None = None) -> Path:
    """Write a one-graph ONNX model folder (opset 17) and return it."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if columns:
        helper.set_model_props(model, {"modelship.columns": json.dumps(columns)})
    onnx.checker.check_model(model)
    folder = tmp_path / graph.name
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def matmul_graph(name: str, shape: list[Any], width: int) -> onnx.GraphProto:
    weights = helper.make_tensor("w", TensorProto.FLOAT, [width, 1], [0.5 + i for i in range(width)])
    return helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], 1])],
        [weights],
    )


def two_inputs_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [
            helper.make_node("Cast", ["a"], ["af"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["af", "b"], ["y"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.INT64, ["N", 1]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
    )


def image_graph() -> onnx.GraphProto:
    weights = helper.make_tensor("w", TensorProto.FLOAT, [4, 1], [1.0, 2.0, 3.0, 4.0])
    return helper.make_graph(
        [
            helper.make_node("Flatten", ["img"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["y"]),
        ],
        "image",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [weights],
    )


def bool_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Cast", ["flag"], ["y"], to=TensorProto.FLOAT)],
        "flags",
        [helper.make_tensor_value_info("flag", TensorProto.BOOL, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
    )


MODELS = [
    pytest.param(lambda: (matmul_graph("matrix", ["N", 4], 4), None), id="matrix-no-columns"),
    pytest.param(lambda: (matmul_graph("named", ["N", 3], 3), ["u", "v", "w"]), id="matrix-declared-columns"),
    pytest.param(lambda: (matmul_graph("fixed", [1, 3], 3), None), id="fixed-batch-of-1"),
    pytest.param(lambda: (two_inputs_graph(), None), id="input-per-column"),
    pytest.param(lambda: (image_graph(), None), id="multi-dim-input"),
    pytest.param(lambda: (bool_graph(), None), id="bool-input"),
    pytest.param(lambda: None, id="housing-example"),
]


@pytest.fixture(params=MODELS)
def served_model(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A model loaded by the serving code itself, for each kind of input signature."""
    made = request.param()
    folder = HOUSING if made is None else save_model(tmp_path, *made)
    return load_model(folder)


def rows_of(answer: dict[str, Any]) -> int:
    values = next(iter(answer.values()))
    return len(values) if isinstance(values, list) else 1


def test_generated_payloads_are_accepted_by_the_server_code(served_model: Any) -> None:
    sig = payloads.signature(served_model.metadata())
    predict = payloads.predict_payloads(sig)
    assert predict, "no payloads generated"
    for payload in predict:
        assert rows_of(served_model.predict(payload.body)) == int(payload.name.rsplit("-", 1)[1]), (
            payload.name
        )
    for payload in payloads.invocations_payloads(sig):
        assert rows_of(served_model.invocations(payload.body)) == int(payload.name.rsplit("-", 1)[1])
    for payload in payloads.v2_payloads(sig):
        outputs = served_model.infer_v2(payload.body)["outputs"]
        assert outputs[0]["shape"][0] == int(payload.name.rsplit("-", 1)[1])


def identity_graph(element: int) -> onnx.GraphProto:
    name = TensorProto.DataType.Name(element).lower()
    return helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", element, ["N", 1])],
        [helper.make_tensor_value_info("y", element, ["N", 1])],
    )


@pytest.mark.parametrize(
    ("element", "datatype"),
    [
        pytest.param(element, datatype, id=datatype)
        for element, datatype in [
            (TensorProto.FLOAT, "FP32"),
            (TensorProto.DOUBLE, "FP64"),
            (TensorProto.FLOAT16, "FP16"),
            (TensorProto.INT64, "INT64"),
            (TensorProto.INT32, "INT32"),
            (TensorProto.INT16, "INT16"),
            (TensorProto.INT8, "INT8"),
            (TensorProto.UINT64, "UINT64"),
            (TensorProto.UINT32, "UINT32"),
            (TensorProto.UINT16, "UINT16"),
            (TensorProto.UINT8, "UINT8"),
            (TensorProto.BOOL, "BOOL"),
            (TensorProto.STRING, "BYTES"),
        ]
    ],
)
def test_v2_payloads_name_each_element_type_as_the_server_does(
    tmp_path: Path, element: int, datatype: str
) -> None:
    served_model = load_model(save_model(tmp_path, identity_graph(element)))
    assert served_model.v2_metadata()["inputs"][0]["datatype"] == datatype
    for payload in payloads.v2_payloads(payloads.signature(served_model.metadata())):
        assert [tensor["datatype"] for tensor in payload.body["inputs"]] == [datatype]
        assert [tensor["datatype"] for tensor in served_model.infer_v2(payload.body)["outputs"]] == [datatype]


def test_bad_payloads_are_refused_by_the_server_code(served_model: Any) -> None:
    sig = payloads.signature(served_model.metadata())
    bad = {b.name: b for b in payloads.bad_payloads(sig)}
    assert sorted(bad) == ["empty-batch", "not-json", "unknown-column", "wrong-content-type", "wrong-type"]
    with pytest.raises(ValueError, match="Expecting value"):
        json.loads(bad["not-json"].data)
    assert bad["wrong-content-type"].content_type != "application/json"
    for name in ("unknown-column", "wrong-type", "empty-batch"):
        with pytest.raises(ClientError) as refused:
            served_model.predict(json.loads(bad[name].data))
        assert 400 <= refused.value.status < 500, name
