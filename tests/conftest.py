"""Fixtures shared by the whole suite: the test registry, and skipping Docker tests without Docker."""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from tests.registry import REGISTRY_BINARY, Registry, from_environment, local_registry


@cache
def docker_unavailable_reason() -> str:
    """Why the Docker engine cannot be used here ("" when it can)."""
    with warnings.catch_warnings():
        # docker-py leaves the socket of a refused connection to the garbage collector: collect it here,
        # where its ResourceWarning is expected, not in whichever test happens to run next.
        warnings.simplefilter("ignore", ResourceWarning)
        reason = ""
        try:
            client = docker.from_env()
            try:
                client.ping()
            finally:
                client.close()
        except DockerException as error:
            reason = f"no Docker engine: {error}"
        gc.collect()
    return reason


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip tests marked `docker` when no Docker engine answers, and `registry` ones without a registry.

    In CI (`CI` set) nothing is skipped for that: a missing engine there is a broken set-up.
    """
    if os.environ.get("CI") and any(item.get_closest_marker("docker") for item in items):
        if docker_unavailable_reason():
            raise pytest.UsageError(
                f"CI must run the Docker tests, but there is {docker_unavailable_reason()}"
            )
        return
    for item in items:
        if item.get_closest_marker("docker") and docker_unavailable_reason():
            item.add_marker(pytest.mark.skip(reason=docker_unavailable_reason()))
        if (
            item.get_closest_marker("registry")
            and from_environment() is None
            and not Path(REGISTRY_BINARY).exists()
        ):
            item.add_marker(
                pytest.mark.skip(reason="no MODELSHIP_TEST_REGISTRY and no docker-registry binary")
            )


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with htpasswd auth: CI's (MODELSHIP_TEST_REGISTRY...) or one started for this session."""
    ci_registry = from_environment()
    if ci_registry is not None:
        yield ci_registry
        return
    with local_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started
