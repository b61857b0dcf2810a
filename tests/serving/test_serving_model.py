"""The in-process API the smoke test reuses, and model folders that cannot be served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from onnx import TensorProto, helper
from serving_models import matrix_graph, mixed_graph, save

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


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"outputs": {"p": {"output": "nope"}}}, 'field "p" must name a graph output (Y)', id="bad-output"
        ),
        pytest.param(
            {"outputs": {"p": {"output": "Y", "dtype": "complex"}}}, "dtype 'complex'", id="bad-cast"
        ),
        pytest.param({"outputs": []}, '"outputs" must be an object', id="outputs-list"),
        pytest.param(
            {"columns": ["a", "b"]}, "2 columns declared (a, b) but graph input 'X' takes 3", id="width"
        ),
        pytest.param({"columns": ["a", "a", "b"]}, "names a column twice", id="duplicate-columns"),
        pytest.param({"columns": "a,b,c"}, "must be a non-empty list", id="columns-string"),
    ],
)
def test_bad_model_config_is_refused_with_a_reason(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    folder = save(tmp_path / "m", matrix_graph(), config)
    with pytest.raises(ModelError) as error:
        load_model(folder)
    assert message in str(error.value)


def test_declared_columns_must_match_per_column_inputs(tmp_path: Path) -> None:
    folder = save(tmp_path / "m", mixed_graph(), {"columns": ["count", "ratio", "flag", "other"]})
    with pytest.raises(ModelError, match="differ from the graph inputs"):
        load_model(folder)
    reordered = save(tmp_path / "r", mixed_graph(), {"columns": ["name", "flag", "ratio", "count"]})
    model = load_model(reordered)
    assert model.predict([["x", True, 0.5, 1]])["prediction"]["total"] == [1.5]  # the declared order


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


def test_python_integers_past_64_bits(models: dict[str, Path]) -> None:
    assert load_model(models["matrix_sidecar"]).predict([[10**30, 0, 0]]) == {
        "prediction": [pytest.approx(1e30)]
    }
    with pytest.raises(ClientError, match="out of range for int64"):
        load_model(models["mixed"]).predict([{"count": 10**30, "ratio": 0.5, "flag": True, "name": "x"}])


def test_pandas_columns_take_the_one_pass_path_only_when_nothing_is_amiss(models: dict[str, Path]) -> None:
    model = load_model(models["numeric"])
    body: dict[str, Any] = {"x": {"0": 1}, "y": {"0": 0.5}, "z": {"0": 2}}
    fast = model.pandas_columns_feeds(body)
    assert fast is not None
    feeds, rows = fast
    assert rows == 1
    assert {name: (a.dtype.name, a.shape) for name, a in feeds.items()} == {
        "x": ("int64", (1, 1)),
        "y": ("float32", (1, 1)),
        "z": ("float64", (1,)),
    }
    for surprise in ({**body, "w": {"0": 1}}, {**body, "y": {"0": "a"}}, {**body, "z": {"1": 2}}, [body]):
        assert model.pandas_columns_feeds(surprise) is None
    assert load_model(models["mixed"]).column_feeds == []  # a string input: always the general path
    assert load_model(models["matrix_sidecar"]).column_feeds == []
