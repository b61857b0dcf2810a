"""The serving image itself: built by the real engine from the bundled models, run, and asked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import numpy as np
import onnxruntime
import pytest
import requests
from docker.models.containers import Container

from scripts import build, fetch
from tests import steps
from tests.registry import free_port
from tests.serving.fuzz import schemathesis_finds_nothing

pytestmark = pytest.mark.docker

PROJECT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = PROJECT / "bench" / "post.lua"  # POSTs $BENCH_BODY_FILE, prints a BENCH line with non-2xx
BASE_IMAGE = "modelship/python-base:3.11-bookworm"
# The verbatim exchange of the serving issue is the first of the bundled samples.
HOUSING_REQUEST = json.loads((PROJECT / "examples" / "housing" / "samples.json").read_text())[0]["request"]
JSON = {"Content-Type": "application/json"}


def run_step(
    step_main: Any, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Run a step in-process, expect it to pass, and return its outputs."""
    run = steps.run_step(step_main, argv, tmp_path, monkeypatch)
    assert run.code == 0, run.out + run.err
    return run.outputs


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The serving image of each bundled model, built with the real fetch and build steps."""
    tmp_path = tmp_path_factory.mktemp("images")
    built: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            for name in ("housing", "sentiment"):
                model_dir = str(tmp_path / name)
                fetch_argv = [
                    "--source",
                    "local",
                    "--model",
                    str(PROJECT / "examples" / name),
                    "--dest",
                    model_dir,
                ]
                run_step(fetch.main, fetch_argv, tmp_path, monkeypatch)
                build_argv = ["--model-dir", model_dir, "--image-name", f"modelship-test/image-{name}"]
                outputs = run_step(
                    build.main, [*build_argv, "--base-image", BASE_IMAGE], tmp_path, monkeypatch
                )
                built[name] = outputs["image-id"]
            yield built
        finally:
            client = docker.from_env()
            for image_id in built.values():
                client.images.remove(image_id, force=True)
            client.close()


@pytest.fixture
def start() -> Iterator[Any]:
    """Start containers of an image on a loopback port; every one is removed afterwards."""
    client = docker.from_env()
    started: list[Container] = []

    def start_container(image: str, **kwargs: Any) -> tuple[Container, str]:
        container = client.containers.run(
            image, detach=True, ports={"8080/tcp": ("127.0.0.1", None)}, **kwargs
        )
        started.append(container)
        container.reload()
        port = container.ports["8080/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                    return container, url
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the container never became ready; its log:\n{container.logs().decode()}")

    yield start_container
    for container in started:
        container.remove(force=True)
    client.close()


def run_in_process(model: Path, feeds: dict[str, np.ndarray]) -> list[Any]:
    """What onnxruntime says in this process for the same inputs."""
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_the_housing_exchange_works_verbatim(images: dict[str, str], start: Any) -> None:
    _, url = start(images["housing"])
    response = requests.post(f"{url}/predict", data=json.dumps(HOUSING_REQUEST), headers=JSON, timeout=5)
    assert response.status_code == 200
    feeds = {
        name: np.array([[value["0"]]], dtype=np.int64 if name == "CHAS" else np.float32)
        for name, value in HOUSING_REQUEST.items()
    }
    [expected] = run_in_process(PROJECT / "examples" / "housing" / "model.onnx", feeds)
    assert response.json() == {"prediction": [pytest.approx(float(expected[0][0]), rel=1e-6)]}
    assert f"{response.json()['prediction'][0]:.2f}" == "20.35"


@pytest.mark.parametrize(
    ("sentence", "positive"),
    [
        pytest.param("MLOps is critical for robustness", True, id="positive"),
        pytest.param("Containers are more or less interesting", False, id="negative"),
    ],
)
def test_the_sentiment_exchange_works_verbatim(
    images: dict[str, str], start: Any, sentence: str, positive: bool
) -> None:
    _, url = start(images["sentiment"])
    response = requests.post(f"{url}/predict", data=json.dumps([sentence]), headers=JSON, timeout=5)
    assert response.status_code == 200
    label, _ = run_in_process(
        PROJECT / "examples" / "sentiment" / "model.onnx", {"text": np.array([sentence])}
    )
    assert bool(label[0]) is positive
    assert response.json() == {"positive": positive}


def test_the_image_runs_as_non_root_with_labels(images: dict[str, str]) -> None:
    client = docker.from_env()
    try:
        image = client.images.get(images["housing"])
        assert image.attrs["Config"]["User"] == "10001:10001"
        output = client.containers.run(images["housing"], entrypoint=["id", "-u"], remove=True)
    finally:
        client.close()
    assert output.decode().strip() == "10001"
    labels = image.labels
    assert labels["ai.modelship.model.name"] == "housing"
    assert len(labels["ai.modelship.model.sha256"]) == 64
    assert "org.opencontainers.image.created" in labels


def test_the_health_check_reports_healthy(images: dict[str, str], start: Any) -> None:
    client = docker.from_env()
    try:
        test = client.images.get(images["housing"]).attrs["Config"]["Healthcheck"]["Test"]
    finally:
        client.close()
    # The image's own check command, run more often than its 10 s interval so the test is quick.
    container, _ = start(images["housing"], healthcheck={"test": test, "interval": 200_000_000, "retries": 3})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"]["Health"]["Status"] == "healthy":
            return
        time.sleep(0.2)
    pytest.fail(f"health: {container.attrs['State']['Health']}")


def test_sigterm_stops_the_server_cleanly(images: dict[str, str], start: Any) -> None:
    container, _ = start(images["housing"])
    container.stop(timeout=10)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()


def test_the_access_log_can_go_to_a_mounted_file(images: dict[str, str], start: Any, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    logs.chmod(0o777)  # writable by the image's non-root user
    container, url = start(
        images["housing"],
        environment={
            "MODELSHIP_ACCESS_LOG": "all",
            "MODELSHIP_ACCESS_LOG_FILE": "/var/log/modelship/access.log",
            "MODELSHIP_WORKERS": "2",
        },
        volumes={str(logs): {"bind": "/var/log/modelship", "mode": "rw"}},
    )
    for request_id in ("one", "two"):
        headers = {**JSON, "X-Request-ID": request_id}
        requests.post(f"{url}/predict", data=json.dumps(HOUSING_REQUEST), headers=headers, timeout=5)
    container.stop(timeout=10)
    lines = (logs / "access.log").read_text().splitlines()
    assert sorted(line.rsplit(" ", 1)[1] for line in lines) == ["id=one", "id=two"]
    assert all('"POST /predict" 200' in line for line in lines)
    assert "POST /predict" not in container.logs().decode()


def test_bad_input_is_a_4xx_and_the_server_keeps_serving(images: dict[str, str], start: Any) -> None:
    _, url = start(images["housing"])
    bad = requests.post(f"{url}/predict", data='{"RM": {"0": "six"}}', headers=JSON, timeout=5)
    assert bad.status_code == 400
    assert "error" in bad.json()
    good = requests.post(f"{url}/predict", data=json.dumps(HOUSING_REQUEST), headers=JSON, timeout=5)
    assert good.status_code == 200


def test_a_corrupt_model_stops_the_container_with_its_reason(images: dict[str, str], tmp_path: Path) -> None:
    model_dir = tmp_path / "corrupt"
    model_dir.mkdir()
    truncated = (PROJECT / "examples" / "housing" / "model.onnx").read_bytes()[:40]
    (model_dir / "model.onnx").write_bytes(truncated)
    model_dir.chmod(0o755)  # readable by the image's non-root user
    client = docker.from_env()
    container = client.containers.run(
        images["housing"],
        detach=True,
        environment={"MODELSHIP_WORKERS": "2"},
        volumes={str(model_dir): {"bind": "/opt/modelship/model", "mode": "ro"}},
    )
    try:
        exit_code = container.wait(timeout=60)["StatusCode"]
        log = container.logs().decode()
    finally:
        container.remove(force=True)
        client.close()
    assert exit_code == 3, log
    assert "modelship: onnxruntime cannot load /opt/modelship/model/model.onnx" in log
    assert "Traceback" not in log


def test_the_default_log_is_quiet_for_good_requests_and_tells_each_refusal(
    images: dict[str, str], start: Any
) -> None:
    container, url = start(images["housing"])
    time.sleep(1.2)  # anything buffered at start-up is flushed within a second
    started = container.logs().decode().splitlines()
    assert any("loaded and warmed up" in line for line in started)
    with requests.Session() as session:
        for _ in range(500):
            good = session.post(f"{url}/predict", data=json.dumps(HOUSING_REQUEST), headers=JSON, timeout=5)
            assert good.status_code == 200
        time.sleep(1.2)
        after_good = container.logs().decode().splitlines()
        bad = session.post(f"{url}/predict", data='{"RM": {"0": true}}', headers=JSON, timeout=5)
        assert bad.status_code == 400
        time.sleep(1.2)
    after_bad = container.logs().decode().splitlines()
    assert after_good == started  # 500 good requests: not one line
    [line] = after_bad[len(after_good) :]
    assert '"POST /predict" 400 ' in line
    container.stop(timeout=10)
    assert "Finished server process" in container.logs().decode()


def wrk_figures(output: str) -> dict[str, int]:
    """Requests, non-2xx answers and socket errors by kind from wrk's report and bench/post.lua's line."""
    bench = json.loads(output.split("BENCH ", 1)[1].splitlines()[0])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    kinds = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True))
        if errors
        else {}
    )
    return {"requests": bench["requests"], "non2xx": bench["non2xx"], "read": 0, **kinds}


def test_docker_stop_under_load_loses_no_request(images: dict[str, str], tmp_path: Path) -> None:
    """16 keep-alive connections from wrk against 2 workers; `docker stop` midway must cost no request:
    the drain sends every client to a new connection, which the stopped server then refuses (a connect
    or write error in wrk's count), never a reset of one it had taken (a read error) or a non-2xx."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is missing; tools/setup-machine installs it")
    port = free_port()
    body = tmp_path / "body.json"
    body.write_text(json.dumps(HOUSING_REQUEST))
    client = docker.from_env()
    # The host network: wrk talks to the server itself on loopback, with no docker-proxy in between.
    container = client.containers.run(
        images["housing"],
        detach=True,
        network_mode="host",
        environment={"MODELSHIP_HOST": "127.0.0.1", "MODELSHIP_PORT": str(port), "MODELSHIP_WORKERS": "2"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.05)
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d9s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}/predict"],
            env={**os.environ, "BENCH_BODY_FILE": str(body)},
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        stopping = time.monotonic()
        container.stop(timeout=10)
        stop_seconds = time.monotonic() - stopping
        output, _ = wrk.communicate(timeout=30)
        container.reload()
        exit_code = container.attrs["State"]["ExitCode"]
        log = container.logs().decode()
    finally:
        container.remove(force=True)
        client.close()
    figures = wrk_figures(output)
    print(f"wrk: {figures}, docker stop took {stop_seconds:.1f} s")
    assert exit_code == 0, log
    assert stop_seconds < 10, "docker stop had to kill it"
    assert figures["requests"] > 1000, output
    assert (figures["read"], figures["non2xx"]) == (0, 0), output + log
    assert "draining for 5 s" in log


@pytest.mark.timeout(120)
@pytest.mark.parametrize("model", ["housing", "sentiment"])
def test_schemathesis_finds_nothing_against_the_image(
    images: dict[str, str], start: Any, model: str, tmp_path: Path
) -> None:
    _, url = start(images[model])
    schemathesis_finds_nothing(url, tmp_path)
