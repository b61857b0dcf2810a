"""`python -m serving` as a real process: ready, answers, and drains then stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry import free_port

REPO = Path(__file__).resolve().parents[2]
DRAIN_SECONDS = 1.5


def wait_ready(
    process: subprocess.Popen[bytes], url: str, timeout: float = 30.0, log: Path | None = None
) -> None:
    """Poll /ready until 200; fail early if the process dies (with the end of its `log` when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"server exited with {process.returncode} before it was ready{log_tail(log)}"
        )
        try:
            if httpx.get(url + "/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready within {timeout} s{log_tail(log)}")


def log_tail(log: Path | None) -> str:
    """The end of a server's log for a failure message, or nothing without one."""
    return f"; its log ends:\n{log.read_text(errors='replace')[-2000:]}" if log is not None else ""


def start_server(model_dir: Path, port: int, log: Path, **variables: str) -> subprocess.Popen[bytes]:
    """`python -m serving` on `model_dir` at 127.0.0.1:`port` with more MODELSHIP_* variables, its
    output in `log`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MODELSHIP_MODEL_DIR": str(model_dir),
        "MODELSHIP_HOST": "127.0.0.1",
        "MODELSHIP_PORT": str(port),
        **variables,
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "serving"],
            cwd=log.parent,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def server(models: dict[str, Path], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """A running `python -m serving` on the matrix model; killed at the end whatever happened."""
    port = free_port()
    log = tmp_path / "server.log"
    process = start_server(
        models["matrix_sidecar"],
        port,
        log,
        MODELSHIP_WORKERS="1",
        MODELSHIP_ACCESS_LOG="all",
        MODELSHIP_DRAIN_SECONDS=str(DRAIN_SECONDS),
    )
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_sigterm_drains_then_stops_after_finishing_the_request_in_flight(
    server: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, url, log = server
    wait_ready(process, url)
    answer = httpx.post(
        url + "/predict",
        json={"a": {"0": 1}, "b": {"0": 2}, "c": {"0": 3}},
        headers={"x-request-id": "proc-1"},
    )
    assert (answer.status_code, answer.json()) == (200, {"prediction": [321.0]})
    deadline = time.monotonic() + 5
    while "id=proc-1" not in log.read_text():  # access lines are flushed at least once a second
        assert time.monotonic() < deadline, "no access-log line within 5 s"
        time.sleep(0.1)

    # A request whose body is only half sent is in flight when SIGTERM arrives.
    body = b"[[1, 2, 3]]"
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:5]
        )
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        time.sleep(0.3)
        # Draining: not ready any more, still answering, and every answer closes its connection.
        with httpx.Client() as client:
            readiness = client.get(url + "/ready")
            assert (readiness.status_code, readiness.json()) == (503, {"status": "draining"})
            assert client.get(url + "/v2/health/ready").status_code == 503
            during = client.post(url + "/predict", json=[[1, 2, 3]])
        assert (during.status_code, during.json()) == (200, {"prediction": [321.0]})
        assert readiness.headers["connection"] == during.headers["connection"] == "close"
        assert process.poll() is None, "the server quit with a request in flight"
        connection.sendall(body[5:])
        reply = b""
        while b"321.0" not in reply:
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in reply.lower()
    assert reply.endswith(b'{"prediction":[321.0]}')
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - stopped_at >= DRAIN_SECONDS  # it served through the whole drain
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")
    lines = log.read_text()
    assert f"draining for {DRAIN_SECONDS:g} s" in lines
    assert '"POST /predict" 200' in lines
    assert "id=proc-1" in lines
    assert '"GET /ready"' not in lines  # probes are not logged, even in "all" mode


def test_sigterm_under_load_with_two_workers_loses_no_request(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """wrk keeps 16 connections busy across SIGTERM: the drain and the held answers at its end must
    cost no read error (a connection reset after the server took it) and no non-2xx answer."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is missing; tools/setup-machine installs it")
    port = free_port()
    body = tmp_path / "body.json"
    body.write_text('{"a": {"0": 1}, "b": {"0": 2}, "c": {"0": 3}}')
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    process = start_server(
        models["matrix_sidecar"], port, log, MODELSHIP_WORKERS="2", MODELSHIP_DRAIN_SECONDS="2"
    )
    load: subprocess.Popen[str] | None = None
    try:
        wait_ready(process, url)
        load = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d5s", "-s", str(REPO / "bench" / "post.lua"), url + "/predict"],
            env={**os.environ, "BENCH_BODY_FILE": str(body)},
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        report, _ = load.communicate(timeout=30)
    finally:
        for started in (process, load):
            if started is not None and started.poll() is None:
                started.kill()
                started.wait(timeout=10)
    bench = json.loads(report.split("BENCH ", 1)[1].splitlines()[0])
    errors = re.search(r"Socket errors: connect \d+, read (\d+),", report)
    assert bench["requests"] > 500, report
    assert bench["non2xx"] == 0, report
    assert errors is None or errors.group(1) == "0", report


def serve_until_it_stops(**variables: str) -> subprocess.CompletedProcess[str]:
    """`python -m serving` with these MODELSHIP_* variables, run until it exits (it must not start)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **variables}
    return subprocess.run(
        [sys.executable, "-m", "serving"], env=env, capture_output=True, text=True, timeout=60
    )


def test_bad_settings_stop_before_serving_with_a_clear_message(tmp_path: Path) -> None:
    result = serve_until_it_stops(MODELSHIP_MODEL_DIR=str(tmp_path), MODELSHIP_PORT="80x")
    assert result.returncode == 2
    assert "MODELSHIP_PORT='80x' is not an integer" in result.stderr
    result = serve_until_it_stops(MODELSHIP_MODEL_DIR=str(tmp_path), MODELSHIP_PORT="8080")
    assert result.returncode == 2
    assert f"no model.onnx in {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_that_cannot_load_stops_the_server_with_its_reason(
    models: dict[str, Path], tmp_path: Path, workers: int
) -> None:
    folder = tmp_path / "truncated"
    folder.mkdir()
    (folder / "model.onnx").write_bytes((models["matrix_bare"] / "model.onnx").read_bytes()[:40])
    result = serve_until_it_stops(
        MODELSHIP_MODEL_DIR=str(folder),
        MODELSHIP_HOST="127.0.0.1",
        MODELSHIP_PORT=str(free_port()),
        MODELSHIP_WORKERS=str(workers),
    )
    assert result.returncode == 3
    assert f"modelship: onnxruntime cannot load {folder / 'model.onnx'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_access_log_file_that_cannot_be_written_stops_before_serving(
    models: dict[str, Path], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "access.log"
    result = serve_until_it_stops(
        MODELSHIP_MODEL_DIR=str(models["matrix_bare"]), MODELSHIP_ACCESS_LOG_FILE=str(missing)
    )
    assert result.returncode == 2
    assert f"MODELSHIP_ACCESS_LOG_FILE={missing} cannot be opened for appending" in result.stderr
    assert "or unset it to log to stdout" in result.stderr
    assert "Traceback" not in result.stderr
