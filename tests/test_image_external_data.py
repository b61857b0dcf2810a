"""An MLflow ONNX model with external data, fetched from a local folder, built, smoke-tested and served."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from scripts import build, fetch, smoke_test
from tests import steps
from tests.mlflow_models import WEIGHTS_FILE, mlflow_onnx_files, write_folder

pytestmark = pytest.mark.docker

BASE_IMAGE = "modelship/python-base:3.11-bookworm"
REQUEST = [[1.0, 2.0, 3.0, 4.0]]
ANSWER = {"prediction": [[5.0, 15.0, 25.0, 35.0]]}  # x @ W with W from the external-data file


def build_smoke_and_serve(model_dir: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the serving image of a fetched folder, smoke-test it, ask it once; remove it afterwards."""
    assert (model_dir / WEIGHTS_FILE).is_file()
    image_name = f"modelship-test/external-data-{uuid.uuid4().hex[:8]}"
    built = steps.run_step(
        build.main,
        ["--model-dir", str(model_dir), "--image-name", image_name, "--base-image", BASE_IMAGE],
        work,
        monkeypatch,
    )
    assert built.code == 0, built.out + built.err
    client = docker.from_env()
    try:
        smoke = steps.run_step(
            smoke_test.main,
            ["--image", built.outputs["image-id"], "--model-dir", str(model_dir)],
            work,
            monkeypatch,
        )
        assert smoke.code == 0, smoke.out + smoke.err
        assert "/predict sample 1" in smoke.summary
        container = client.containers.run(
            built.outputs["image-id"], detach=True, ports={"8080/tcp": ("127.0.0.1", None)}
        )
        try:
            container.reload()
            url = f"http://127.0.0.1:{container.ports['8080/tcp'][0]['HostPort']}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            answer = requests.post(f"{url}/predict", json=REQUEST, timeout=5)
            assert answer.status_code == 200, container.logs().decode()
            assert answer.json() == ANSWER
        finally:
            container.remove(force=True)
    finally:
        for tag in built.outputs["tags"].splitlines():
            client.images.remove(tag, force=True)
        client.close()


def test_local_mlflow_model_with_external_data_is_built_and_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files(scale=1.0))
    (source / WEIGHTS_FILE).chmod(0o600)  # as onnx writes it; the image's non-root user must still read it
    dest = tmp_path / "fetched"
    fetched = steps.run_step(
        fetch.main, ["--source", "local", "--model", str(source), "--dest", str(dest)], tmp_path, monkeypatch
    )
    assert fetched.code == 0, fetched.out + fetched.err

    build_smoke_and_serve(dest, tmp_path, monkeypatch)
