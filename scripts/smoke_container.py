"""The smoke test's container: created locked down, published on loopback, waited for, then removed."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from scripts import gha
from scripts.docker_engine import connect
from scripts.gha import StepError

CONTAINER_PORT = "8080/tcp"
POLL_SECONDS = 0.02
LOG_HEAD_LINES = 60
LOG_TAIL_LINES = 60


@dataclass(frozen=True)
class Limits:
    """What the container may use."""

    cpus: float
    memory: str


@dataclass
class Running:
    """A started container: its name, where it answers, when it started, and (once removed) its log."""

    container: Any  # docker.models.containers.Container
    name: str
    url: str
    started: float
    log: str = ""


@dataclass(frozen=True)
class Readiness:
    """How waiting for GET /ready ended: the cold start when it answered, else why not."""

    cold_start_ms: float | None
    detail: str


def fold_log(text: str, head: int = LOG_HEAD_LINES, tail: int = LOG_TAIL_LINES) -> str:
    """The start-up (first lines) and the end (last lines) of a log, with what is left out counted."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= head + tail:
        return "\n".join(lines)
    skipped = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {skipped} lines left out ...]", *lines[-tail:]])


def create(
    client: docker.DockerClient,
    image_id: str,
    name: str,
    limits: Limits,
    volumes: dict[str, Any] | None = None,
) -> Any:
    """Create the container: published on a random 127.0.0.1 port, limited, read-only root, no privileges.

    `volumes` are read-only files an emulated platform needs (scripts.emulation).
    """
    try:
        return client.containers.create(
            image_id,
            volumes=volumes or {},
            name=name,
            detach=True,
            ports={CONTAINER_PORT: ("127.0.0.1", None)},
            nano_cpus=int(limits.cpus * 1e9),
            mem_limit=limits.memory,
            pids_limit=256,
            read_only=True,
            tmpfs={"/tmp": "rw,size=64m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    except DockerException as error:
        detail = error.explanation if isinstance(error, APIError) else error
        raise StepError(
            f"cannot create a container of {image_id} ({gha.input_name('cpus')} {limits.cpus:g}, "
            f"{gha.input_name('memory')} {limits.memory}): {detail}"
        ) from None


def published_url(container: Any) -> str:
    """The http://127.0.0.1:<port> the engine published the container's port on."""
    container.reload()
    binding = (container.ports.get(CONTAINER_PORT) or [{}])[0]
    return f"http://127.0.0.1:{binding.get('HostPort')}"


def finish(name: str) -> str:
    """Read the container's last log lines, then stop and remove it, whatever state it is in.

    A fresh client: an interrupt (Ctrl-C) may have left the step's connection half-read.
    """
    log = ""
    try:
        cleanup = connect()
    except StepError as error:
        gha.annotate("warning", f"could not remove container {name} ({error}); run: docker rm -f {name}")
        return f"(cannot read the container log: {error})"
    try:
        container = cleanup.containers.get(name)
        try:
            log = fold_log(bytes(container.logs()).decode("utf-8", "replace"))
        except DockerException as error:
            log = f"(cannot read the container log: {error})"
        with contextlib.suppress(DockerException):
            container.stop(timeout=3)
        container.remove(force=True, v=True)
    except NotFound:
        pass  # never created (a failed or interrupted create)
    except DockerException as error:
        gha.annotate("warning", f"could not remove container {name} ({error}); run: docker rm -f {name}")
    finally:
        cleanup.close()
    return log


@contextlib.contextmanager
def running(
    client: docker.DockerClient,
    image: Any,
    shown_as: str,
    limits: Limits,
    volumes: dict[str, Any] | None = None,
) -> Iterator[Running]:
    """Create and start a container of `image`; on leaving, however, keep its log and remove it."""
    name = f"modelship-smoke-{uuid.uuid4().hex[:12]}"
    run: Running | None = None
    try:
        container = create(client, str(image.id), name, limits, volumes)
        print(f"started container {name} from {shown_as}", flush=True)
        started = time.perf_counter()
        container.start()
        run = Running(container, name, published_url(container), started)
        yield run
    finally:
        log = finish(name)
        if run is not None:
            run.log = log


def wait_ready(run: Running, session: requests.Session, timeout: float) -> Readiness:
    """Poll GET /ready until 200; give up when the container exits or `timeout` seconds pass."""
    deadline = run.started + timeout
    last = "no answer yet"
    next_status_check = 0.0
    while time.perf_counter() < deadline:
        try:
            response = session.get(run.url + "/ready", timeout=1)
            if response.status_code == 200:
                cold_start_ms = (time.perf_counter() - run.started) * 1000
                return Readiness(cold_start_ms, f"GET /ready answered 200 after {cold_start_ms:.0f} ms")
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = type(error).__name__
        if time.perf_counter() >= next_status_check:
            run.container.reload()
            if run.container.status in ("exited", "dead"):
                code = run.container.attrs.get("State", {}).get("ExitCode")
                return Readiness(None, f"the container exited with code {code} before /ready answered")
            next_status_check = time.perf_counter() + 0.25
        time.sleep(POLL_SECONDS)
    return Readiness(None, f"GET /ready did not answer 200 within {timeout:g}s (last: {last})")
