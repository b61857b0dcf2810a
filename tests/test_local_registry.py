"""tools/local-registry: it starts a real registry, and refuses a port something else already holds."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.registry import free_port

pytestmark = pytest.mark.registry
SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "local-registry"


def local_registry(command: str, port: int, state: Path) -> subprocess.CompletedProcess[str]:
    """Run `tools/local-registry <command>` on `port` with its state in `state`."""
    env = {**os.environ, "MODELSHIP_REGISTRY_PORT": str(port), "MODELSHIP_REGISTRY_STATE": str(state)}
    return subprocess.run([str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """The script's state folder; whatever it started is stopped afterwards."""
    folder = tmp_path / "registry"
    yield folder
    if (folder / "pid").exists():
        os.kill(int((folder / "pid").read_text()), 15)


def test_start_prints_credentials_of_its_own_registry(state: Path) -> None:
    port = free_port()
    started = local_registry("start", port, state)
    assert started.returncode == 0, started.stderr
    variables = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines() if line
    )
    assert variables["MODELSHIP_TEST_REGISTRY"] == f"127.0.0.1:{port}"
    answer = requests.get(
        f"http://127.0.0.1:{port}/v2/",
        auth=(variables["MODELSHIP_TEST_REGISTRY_USER"], variables["MODELSHIP_TEST_REGISTRY_PASSWORD"]),
        timeout=5,
    )
    assert answer.status_code == 200
    assert local_registry("stop", port, state).returncode == 0
    assert not state.exists()


def test_start_refuses_a_port_another_program_holds(state: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        refused = local_registry("start", port, state)
    assert refused.returncode == 1
    assert refused.stdout == ""  # no credentials for a registry that is not its own
    assert f"port {port} on 127.0.0.1 is already taken" in refused.stderr
    assert "MODELSHIP_REGISTRY_PORT" in refused.stderr
    assert not (state / "pid").exists()


def test_a_second_start_on_another_port_names_the_registry_that_runs(state: Path) -> None:
    """`make demo` leaves the registry on one port; `.ci/run` then asks for another with the same state."""
    port = free_port()
    first = local_registry("start", port, state)
    assert first.returncode == 0, first.stderr
    again = local_registry("start", free_port(), state)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert f"already running on 127.0.0.1:{port}; using it" in again.stderr
