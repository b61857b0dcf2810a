"""MLflow model folders: find the ONNX file that an `MLmodel` file's `onnx` flavor names.

An MLflow model is a folder with an `MLmodel` YAML file whose `flavors` map says how to load it;
`mlflow.onnx` writes `flavors: {onnx: {data: model.onnx, ...}, python_function: {...}}`
(https://mlflow.org/docs/latest/python_api/mlflow.onnx.html). Any other flavor (sklearn, pytorch, …)
is refused from `MLmodel` alone, so that no weights are downloaded for a model we cannot serve.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from scripts import gha

MLMODEL = "MLmodel"
# Every MLflow model has this generic flavor beside its real one; it says nothing about the format.
_GENERIC_FLAVORS = frozenset({"python_function"})


def onnx_file_of(mlmodel_text: str, label: str) -> str:
    """The model file the `onnx` flavor names, relative to the MLflow folder; a refusal otherwise."""
    import yaml

    try:
        document = yaml.safe_load(mlmodel_text)
    except yaml.YAMLError as error:
        raise gha.StepError(f"{label}'s {MLMODEL} is not valid YAML ({str(error).splitlines()[0]})") from None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict) or not flavors:
        raise gha.StepError(f"{label}'s {MLMODEL} lists no flavors; it is not an MLflow model file")
    onnx_flavor = flavors.get("onnx")
    if onnx_flavor is None:
        named = sorted(str(name) for name in flavors if name not in _GENERIC_FLAVORS) or sorted(flavors)
        raise gha.StepError(
            f"{label} is an MLflow model of flavor {', '.join(named)}, not ONNX; modelship serves ONNX "
            "models only: export it to ONNX (for example with skl2onnx, torch.onnx or tf2onnx), log it "
            "with mlflow.onnx.log_model, and fetch that version"
        )
    data = onnx_flavor.get("data") if isinstance(onnx_flavor, dict) else None
    if not isinstance(data, str) or not data.strip():
        raise gha.StepError(f"{label}'s {MLMODEL} has an onnx flavor without its 'data' file name")
    path = PurePosixPath(data.strip())
    if path.is_absolute() or ".." in path.parts:
        raise gha.StepError(
            f"{label}'s {MLMODEL} names the model file {data!r}, which is outside the MLflow folder"
        )
    return path.as_posix()
