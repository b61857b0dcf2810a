"""The one way to the local Docker engine: a client that has answered, and the images it holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from scripts.gha import StepError, first_line

DEFAULT_ADDRESS = "unix:///var/run/docker.sock"  # the Docker SDK's default without DOCKER_HOST


def engine_address() -> str:
    """Where the Docker SDK looks for the engine, for messages."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_ADDRESS


def unreachable(detail: str) -> StepError:
    """The error for an engine that does not answer: where it was looked for, and what to do."""
    return StepError(
        f"cannot reach the Docker engine at {engine_address()} ({detail}); start dockerd (or Docker "
        "Desktop), or check DOCKER_HOST and that this user may use the socket"
    )


def connect() -> docker.DockerClient:
    """A Docker client that has answered a ping, or `unreachable`."""
    address = engine_address()
    if address.startswith("unix://") and not Path(address.removeprefix("unix://")).exists():
        raise unreachable("no such socket")  # checked first: the SDK would leak a socket finding out
    try:
        client = docker.from_env()
    except DockerException as error:
        raise unreachable(first_line(error)) from None
    try:
        client.ping()
    except DockerException as error:
        client.close()
        raise unreachable(first_line(error)) from None
    return client


def local_image(client: docker.DockerClient, image: str) -> Any:
    """The local image `image` names, or a clear error when there is none."""
    try:
        return client.images.get(image)
    except ImageNotFound:
        raise StepError(
            f"image {image!r} is not in the local Docker engine; run the build step first"
        ) from None
    except APIError as error:
        raise StepError(f"cannot look up image {image!r}: {error.explanation or error}") from None
