"""The one way to the Docker engine (scripts.docker_engine): one error for an engine that is not there,
whichever step asks."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from scripts import docker_engine, push, smoke_test
from scripts.gha import StepError
from tests.steps import run_step

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "housing"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("address", "detail"),
    [
        pytest.param("unix:///nonexistent/docker.sock", "(no such socket)", id="missing-socket"),
        pytest.param("tcp://127.0.0.1:{port}", "Connection", id="closed-tcp-port"),
    ],
)
def test_connect_says_where_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch, address: str, detail: str
) -> None:
    address = address.format(port=closed_port())
    monkeypatch.setenv("DOCKER_HOST", address)
    with pytest.raises(StepError) as caught:
        docker_engine.connect()
    message = str(caught.value)
    assert message.startswith(f"cannot reach the Docker engine at {address} (")
    assert detail in message
    assert message.endswith(
        "start dockerd (or Docker Desktop), or check DOCKER_HOST and that this user may use the socket"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(["push", "--image", "x", "--tags", "127.0.0.1:5000/m:1"], id="push"),
        pytest.param(["smoke-test", "--image", "x", "--model-dir", str(EXAMPLE)], id="smoke-test"),
    ],
)
def test_every_step_gives_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: list[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("REGISTRY_PASSWORD", raising=False)
    main = {"push": push.main, "smoke-test": smoke_test.main}[step[0]]
    run = run_step(main, step[1:], tmp_path, monkeypatch)
    assert run.code == 1
    assert (
        f"cannot reach the Docker engine at unix://{tmp_path}/no-docker.sock (no such socket); start dockerd"
        in run.err
    )


@pytest.mark.docker
def test_local_image_that_is_not_there() -> None:
    missing = f"modelship-test/absent-{uuid.uuid4().hex[:8]}:1"
    client = docker_engine.connect()
    try:
        with pytest.raises(
            StepError, match=rf"^image '{missing}' is not in the local Docker engine; run the build"
        ):
            docker_engine.local_image(client, missing)
    finally:
        client.close()
