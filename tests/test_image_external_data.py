"""Models with external data, fetched from a local folder, built, smoke-tested and served: an MLflow
folder, and a model whose weights file's name starts with a dot; the image holds exactly the files
provenance.json lists."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from scripts import build, fetch, smoke_test
from serving.model_folder import PROVENANCE_FILE
from tests import steps
from tests.mlflow_models import WEIGHTS_FILE, mlflow_onnx_files, write_folder
from tests.test_fetch_external_data import model_with_weights_at

pytestmark = pytest.mark.docker

BASE_IMAGE = "modelship/python-base:3.11-bookworm"
REQUEST = [[1.0, 2.0, 3.0, 4.0]]
ANSWER = {"prediction": [[5.0, 15.0, 25.0, 35.0]]}  # x @ W with W from the external-data file


def image_model_files(client: docker.DockerClient, image_id: str) -> dict[str, bytes]:
    """Every file under the image's /opt/modelship/model, by its path inside that folder."""
    container = client.containers.create(image_id)
    try:
        stream, _ = container.get_archive("/opt/modelship/model")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            handles = {member.name: archive.extractfile(member) for member in archive.getmembers()}
            # The archive's names start with the folder's own ("model/..."); files only, not folders.
            return {
                Path(name).relative_to("model").as_posix(): handle.read()
                for name, handle in handles.items()
                if handle is not None
            }
    finally:
        container.remove(force=True)


def build_smoke_and_serve(model_dir: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the serving image of a fetched folder, check that it holds exactly the files provenance.json
    lists, smoke-test it, ask it once; remove it afterwards."""
    listed = json.loads((model_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))["files"]
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
        in_image = image_model_files(client, built.outputs["image-id"])
        assert in_image == {name: (model_dir / name).read_bytes() for name in listed}
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
    assert WEIGHTS_FILE in json.loads((dest / PROVENANCE_FILE).read_text(encoding="utf-8"))["files"]

    build_smoke_and_serve(dest, tmp_path, monkeypatch)


def test_weights_in_a_dotted_file_reach_the_image_and_stray_files_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = model_with_weights_at(tmp_path / "model", ".weights.bin")
    dest = tmp_path / "fetched"
    fetched = steps.run_step(
        fetch.main, ["--source", "local", "--model", str(source), "--dest", str(dest)], tmp_path, monkeypatch
    )
    assert fetched.code == 0, fetched.out + fetched.err
    assert ".weights.bin" in json.loads((dest / PROVENANCE_FILE).read_text(encoding="utf-8"))["files"]
    # What an editor or a local run may leave in the folder after the fetch; the fetch never listed them.
    write_folder(dest, {"model.onnx~": b"backup", "__pycache__/x.cpython-311.pyc": b"\0", ".notes": b"x"})

    build_smoke_and_serve(dest, tmp_path, monkeypatch)
