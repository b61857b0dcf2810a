"""Tiny ONNX models written into model folders, one per input/output layout the server handles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = [helper.make_opsetid("", 19)]


def save(
    folder: Path, graph: onnx.GraphProto, config: dict | None = None, metadata: dict | None = None
) -> Path:
    """Write `graph` as folder/model.onnx (with optional metadata_props) and an optional modelship.json."""
    folder.mkdir(parents=True, exist_ok=True)
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=9)
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    if config is not None:
        (folder / "modelship.json").write_text(json.dumps(config))
    return folder


def matrix_graph() -> onnx.GraphProto:
    """One input X float [N, 3]; Y = X @ [1, 10, 100] -> [N, 1], so the column order shows in the answer."""
    weights = helper.make_tensor("W", TensorProto.FLOAT, [3, 1], [1.0, 10.0, 100.0])
    return helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "matrix",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])],
        [weights],
    )


def mixed_graph() -> onnx.GraphProto:
    """Inputs count int64, ratio double, flag bool, name string (each [N, 1]); four outputs of those types."""
    two = helper.make_tensor("two", TensorProto.INT64, [], [2])
    nodes = [
        helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.DOUBLE),
        helper.make_node("Add", ["count_f", "ratio"], ["total"]),
        helper.make_node("Not", ["flag"], ["negated"]),
        helper.make_node("Identity", ["name"], ["echo"]),
        helper.make_node("Mul", ["count", "two"], ["doubled"]),
    ]
    value = helper.make_tensor_value_info
    return helper.make_graph(
        nodes,
        "mixed",
        [
            value("count", TensorProto.INT64, ["N", 1]),
            value("ratio", TensorProto.DOUBLE, ["N", 1]),
            value("flag", TensorProto.BOOL, ["N", 1]),
            value("name", TensorProto.STRING, ["N", 1]),
        ],
        [
            value("total", TensorProto.DOUBLE, ["N", 1]),
            value("negated", TensorProto.BOOL, ["N", 1]),
            value("echo", TensorProto.STRING, ["N", 1]),
            value("doubled", TensorProto.INT64, ["N", 1]),
        ],
        [two],
    )


def text_graph() -> onnx.GraphProto:
    """One string input text [N]; is_hello int64 = (lowercased text == "hello"), like a sentiment label."""
    hello = helper.make_tensor("hello", TensorProto.STRING, [], [b"hello"])  # type: ignore[list-item]
    nodes = [
        helper.make_node(
            "StringNormalizer", ["text"], ["lower"], case_change_action="LOWER", locale="C.UTF-8"
        ),
        helper.make_node("Equal", ["lower", "hello"], ["same"]),
        helper.make_node("Cast", ["same"], ["is_hello"], to=TensorProto.INT64),
    ]
    return helper.make_graph(
        nodes,
        "text",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("is_hello", TensorProto.INT64, ["N"])],
        [hello],
    )


def zipmap_model(folder: Path, mapped: bool = True) -> Path:
    """A scikit-learn LogisticRegression over columns x, y exported with its ZipMap probabilities; its
    modelship.json maps both outputs to fields unless `mapped` is False."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 2)).astype(np.float32)
    labels = np.where(features[:, 0] > 0, "dog", "cat")
    classifier = LogisticRegression().fit(features, labels)
    onx = to_onnx(classifier, features[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(onx, folder / "model.onnx")
    config: dict = {"columns": ["x", "y"]}
    if mapped:
        config["outputs"] = {"label": "output_label", "probabilities": "output_probability"}
    (folder / "modelship.json").write_text(json.dumps(config))
    return folder


def numeric_columns_graph() -> onnx.GraphProto:
    """Inputs x int64 [N, 1], y float [N, 1], z double [N]; outputs total = x + y and double_z = 2 z."""
    two = helper.make_tensor("two", TensorProto.DOUBLE, [], [2.0])
    value = helper.make_tensor_value_info
    return helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["x_f"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["x_f", "y"], ["total"]),
            helper.make_node("Mul", ["z", "two"], ["double_z"]),
        ],
        "numeric_columns",
        [
            value("x", TensorProto.INT64, ["N", 1]),
            value("y", TensorProto.FLOAT, ["N", 1]),
            value("z", TensorProto.DOUBLE, ["N"]),
        ],
        [value("total", TensorProto.FLOAT, ["N", 1]), value("double_z", TensorProto.DOUBLE, ["N"])],
        [two],
    )


def two_outputs_graph() -> onnx.GraphProto:
    """One input x float [N]; outputs doubled = 2 x (float) and positive = x > 0 (bool), no mapping."""
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    value = helper.make_tensor_value_info
    return helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["doubled"]),
            helper.make_node("Greater", ["x", "zero"], ["positive"]),
        ],
        "two_outputs",
        [value("x", TensorProto.FLOAT, ["N"])],
        [value("doubled", TensorProto.FLOAT, ["N"]), value("positive", TensorProto.BOOL, ["N"])],
        [two, zero],
    )
