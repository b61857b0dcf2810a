"""MLflow model folders as `mlflow.onnx.save_model` writes them: MLmodel, model.onnx, weights beside it.

mlflow saves with `save_as_external_data=True` by default, so the weights are in a uuid-named
file next to model.onnx; the files here are laid out the same way (MLmodel as mlflow 2.x writes it).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHTS_FILE = "0b6f6a2e-8d8c-11ef-9c5e-0242ac120002"  # mlflow leaves onnx's uuid1() name
MLMODEL_ONNX = """artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.17.0
    providers:
    - CUDAExecutionProvider
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.9
mlflow_version: 2.17.0
model_size_bytes: 1234
model_uuid: 5c1b0b8e2b7f4f0f9d3f1f5a8e2c4b6d
utc_time_created: '2026-01-05 10:00:00.000000'
"""
MLMODEL_SKLEARN = """artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.9
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.2
mlflow_version: 2.17.0
"""


def weights(scale: float) -> np.ndarray:
    """The 4x4 weight matrix of the model (y = x @ W), distinct per `scale`."""
    return (np.arange(16, dtype=np.float32).reshape(4, 4) - 7.5) * np.float32(scale)


def onnx_with_external_data(scale: float, location: str = WEIGHTS_FILE) -> dict[str, bytes]:
    """`model.onnx` and its external-data file `location`, as onnx.save_model writes them."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "mlflow-linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        [numpy_helper.from_array(weights(scale), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with tempfile.TemporaryDirectory() as folder:
        onnx.save_model(
            model, f"{folder}/model.onnx", save_as_external_data=True, location=location, size_threshold=0
        )
        return {
            "model.onnx": Path(folder, "model.onnx").read_bytes(),
            location: Path(folder, location).read_bytes(),
        }


def mlflow_onnx_files(scale: float = 1.0) -> dict[str, bytes]:
    """Every file of an MLflow ONNX model folder with external data, and modelship's sidecars."""
    x = [[1.0, 2.0, 3.0, 4.0]]
    y = (np.array(x, dtype=np.float32) @ weights(scale)).tolist()
    return {
        "MLmodel": MLMODEL_ONNX.encode(),
        "conda.yaml": b"name: mlflow-env\ndependencies:\n- python=3.11.9\n",
        "requirements.txt": b"mlflow==2.17.0\nonnx==1.17.0\n",
        **onnx_with_external_data(scale),
        "modelship.json": json.dumps({"name": "linear", "version": "4"}).encode(),
        "samples.json": json.dumps([{"request": x, "response": {"prediction": y}}]).encode(),
    }


def mlflow_sklearn_files() -> dict[str, bytes]:
    """An MLflow scikit-learn model folder (not ONNX): MLmodel and a large pickle."""
    return {"MLmodel": MLMODEL_SKLEARN.encode(), "model.pkl": b"\x80\x05" + b"\0" * 4096}


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """Write `files` into `folder`; return it."""
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder
