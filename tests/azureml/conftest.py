"""Fixtures: the Azure stand-in, started once per session and reset for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.registry import free_port

from .harness import AzureStandIn, running_standin


@pytest.fixture(scope="session")
def standin_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureStandIn]:
    """Start the stand-in once for the module's tests; stop it at the end."""
    with running_standin(tmp_path_factory.mktemp("azure-ca")) as standin:
        yield standin


@pytest.fixture
def standin(standin_session: AzureStandIn) -> AzureStandIn:
    """The stand-in with no models, no faults and an empty request log."""
    standin_session.azure.reset()
    return standin_session


@pytest.fixture
def closed_port() -> int:
    """A local port that nothing listens on (bound, then released)."""
    return free_port()
