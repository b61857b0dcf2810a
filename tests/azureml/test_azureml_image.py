"""An MLflow ONNX model with external data from the Azure stand-in: fetched, built, smoke-tested, served."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mlflow_models import mlflow_onnx_files
from tests.test_image_external_data import build_smoke_and_serve

from .harness import AzureStandIn, run_fetch

pytestmark = pytest.mark.docker


def test_azure_mlflow_model_with_external_data_is_built_and_served(
    standin: AzureStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.azure.register("linear", "4", mlflow_onnx_files(scale=1.0), folder="model")

    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4")
    assert run.returncode == 0, run.log

    build_smoke_and_serve(tmp_path / "model", tmp_path, monkeypatch)
