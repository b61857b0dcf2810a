"""The in-process API the smoke test reuses, and model folders that cannot be served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from onnx import TensorProto, helper
from serving_models import matrix_graph, save

from serving.errors import ClientError
from serving.model import ModelError, load_model


def test_in_process_api_answers_like_the_server(models: dict[str, Path]) -> None:
    model = load_model(models["matrix_sidecar"], threads=1)
    assert model.predict({"a": {"0": 1}, "b": {"0": 2}, "c": {"0": 3}}) == {"prediction": [321.0]}
    assert model.invocations([[1, 2, 3]]) == {"predictions": [321.0]}
    v2 = model.infer_v2(
        {"id": "x", "inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    )
    assert v2["outputs"] == [{"name": "Y", "shape": [1, 1], "datatype": "FP32", "data": [321.0]}]
    assert model.metadata()["columns"] == ["a", "b", "c"]
    with pytest.raises(ClientError) as refused:
        model.predict([])
    assert refused.value.status == 400
    assert "empty batch" in refused.value.message


def test_identity_falls_back_to_provenance_then_the_file(models: dict[str, Path], tmp_path: Path) -> None:
    folder = save(tmp_path / "plain", matrix_graph(), {"columns": ["a", "b", "c"]})
    model = load_model(folder)
    assert (model.name, model.version, len(model.sha256)) == ("model", "0", 64)
    (folder / "provenance.json").write_text(
        json.dumps({"name": "boston", "version": "9", "sha256": "c" * 64})
    )
    model = load_model(folder)
    assert (model.name, model.version, model.sha256) == ("boston", "9", "c" * 64)
    assert load_model(folder, name="override").name == "override"


def test_warm_up_runs_for_every_layout(models: dict[str, Path]) -> None:
    for folder in models.values():
        model = load_model(folder)
        body = model.warm_up_body()
        assert model.predict(body)  # the generated body fits the model
        model.warm_up()


def test_a_model_that_fails_its_warm_up_run_is_a_model_error(tmp_path: Path) -> None:
    three = helper.make_tensor("three", TensorProto.INT64, [1], [3])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["X", "three"], ["Y"])],  # only ever fits exactly three values
        "reshape",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])],
        [three],
    )
    model = load_model(save(tmp_path / "m", graph))
    with pytest.raises(ModelError, match=r"the model fails its warm-up run: .*Reshape"):
        model.warm_up()


def test_unreadable_folders(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model\.onnx in"):
        load_model(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        load_model(tmp_path)
    folder = save(tmp_path / "m", matrix_graph())
    (folder / "modelship.json").write_text("{oops")
    with pytest.raises(ModelError, match=r"modelship\.json is not valid JSON"):
        load_model(folder)
    bad_metadata = save(tmp_path / "b", matrix_graph(), metadata={"modelship.columns": "a,b,c"})
    with pytest.raises(ModelError, match=r'ONNX metadata "modelship\.columns" is not a JSON list'):
        load_model(bad_metadata)
