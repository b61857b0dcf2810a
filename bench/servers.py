"""Start and stop the servers under test, each on its own 127.0.0.1 port, ready when it answers a POST."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
BENCH_BIN = BENCH_DIR / ".venv" / "bin"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Running:
    """A server that answers on `url`; `processes()` lists the host pids of all its processes."""

    name: str
    url: str
    processes: Callable[[], list[int]]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) used so far by each of `pids` that still runs."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `cpu_seconds` samples by the processes in both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of `pids` added up (shared pages count once per process, as `ps` shows them)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kilobytes = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
        total += int(kilobytes) * 1024
    return total


def session_members(session: int) -> list[int]:
    """Pids of the processes in a session (a server started with start_new_session and its workers)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            members.append(int(stat.parent.name))
    return members


def container_members(container: str) -> list[int]:
    """Host pids of a container's processes."""
    done = subprocess.run(
        ["docker", "top", container, "-eo", "pid"], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in done.stdout.split()[1:] if pid.isdigit()]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(port: int, path: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """POST a JSON body; (status, response body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_answers(
    name: str, port: int, path: str, body: bytes, timeout: float, alive: Callable[[], bool]
) -> None:
    """Wait until POST `path` answers 200; RuntimeError with the last answer when it does not in time."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline and alive():
        try:
            status, answer = post(port, path, body)
            if status == 200:
                return
            last = f"HTTP {status}: {answer[:300]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer POST {path} with 200 within {timeout:.0f} s (last: {last})")


@contextmanager
def host_process(
    name: str, command: list[str], env: dict[str, str], port: int, path: str, body: bytes, log: Path
) -> Iterator[Running]:
    """Run `command` in its own process group; stop the group (SIGTERM, then SIGKILL) afterwards."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                wait_answers(name, port, path, body, 120, lambda: process.poll() is None)
            except RuntimeError as error:
                raise RuntimeError(f"{error}; its log is {log}") from None
            yield Running(name, f"http://127.0.0.1:{port}{path}", lambda: session_members(process.pid))
        finally:
            for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                if process.poll() is not None:
                    break
                os.killpg(process.pid, sig)
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    continue


def bench_env(model: Path) -> dict[str, str]:
    """Environment for the bench venv's servers: its bin first on PATH, the model path."""
    return {"PATH": f"{BENCH_BIN}:{os.environ['PATH']}", "BENCH_MODEL": str(model), "BENCH_ORT_THREADS": "1"}


@contextmanager
def mlflow_server(
    name: str, mlflow_model: Path, workers: int, body: bytes, log: Path, model: Path
) -> Iterator[Running]:
    """`mlflow models serve --env-manager local` with `workers` workers, known as `name`."""
    port = free_port()
    options = f"models serve -m {mlflow_model} --env-manager local -w {workers} -h 127.0.0.1 -p {port}"
    command = [str(BENCH_BIN / "mlflow"), *options.split()]
    with host_process(name, command, bench_env(model), port, "/invocations", body, log) as running:
        yield running


def app_command(name: str, workers: int, port: int) -> list[str]:
    """A Flask app on gunicorn (sync workers): the pandas one, or the seed's tokenizing one for a
    transformer; or the bare-ASGI app on uvicorn (uvloop, httptools)."""
    flask_apps = {"flask-gunicorn": "flask_app", "flask-tokenize": "flask_text_app"}
    if name in flask_apps:
        options = f"-w {workers} -b 127.0.0.1:{port} bench.apps.{flask_apps[name]}:app"
        return [str(BENCH_BIN / "gunicorn"), *options.split()]
    options = f"--workers {workers} --host 127.0.0.1 --port {port} --loop uvloop --http httptools"
    options += " --no-access-log --lifespan off bench.apps.asgi_app:app"
    return [str(BENCH_BIN / "uvicorn"), *options.split()]


@contextmanager
def bench_app(name: str, model: Path, workers: int, body: bytes, log: Path) -> Iterator[Running]:
    """One of the apps in bench/apps ("flask-gunicorn", "flask-tokenize" or "bare-asgi") serving `model` on
    POST /predict."""
    port = free_port()
    with host_process(
        name, app_command(name, workers, port), bench_env(model), port, "/predict", body, log
    ) as running:
        yield running


@contextmanager
def modelship_container(
    image: str,
    workers: int,
    body: bytes,
    log: Path,
    access_log: str = "default",
    settings: Mapping[str, str] | None = None,
) -> Iterator[Running]:
    """The modelship image as it starts itself, on the host network (no docker-proxy between wrk and it),
    its access log as the image's "default" (refusals, errors, slow requests), "all" requests on stdout,
    or all of them to a "file" on a mounted directory; `settings` are more MODELSHIP_* variables."""
    port = free_port()
    options = f"run -d --rm --network host -e MODELSHIP_PORT={port} -e MODELSHIP_WORKERS={workers}"
    for name, value in (settings or {}).items():
        options += f" -e {name}={value}"
    with tempfile.TemporaryDirectory(prefix="modelship-bench-log-") as access_dir:
        if access_log in ("all", "file"):
            options += " -e MODELSHIP_ACCESS_LOG=all"
        if access_log == "file":
            os.chmod(access_dir, 0o777)  # writable by the image's non-root user
            options += f" -v {access_dir}:/var/log/modelship"
            options += " -e MODELSHIP_ACCESS_LOG_FILE=/var/log/modelship/access.log"
        command = ["docker", *options.split(), image]
        container = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        try:
            wait_answers("modelship", port, "/predict", body, 60, lambda: True)
            yield Running(image, f"http://127.0.0.1:{port}/predict", lambda: container_members(container))
        finally:
            logs = subprocess.run(
                ["docker", "logs", "--tail", "200", container], capture_output=True, check=False
            )
            log.write_bytes(logs.stdout + logs.stderr)
            subprocess.run(["docker", "stop", "-t", "10", container], capture_output=True, check=False)
