"""Reusing the layers of the image pushed last time (scripts.layer_cache)."""

from __future__ import annotations

import uuid

import pytest

from scripts import layer_cache
from scripts.docker_engine import connect
from scripts.image_ref import parse_ref
from tests.registry import Registry


def test_candidates_are_the_builds_own_refs_then_latest_once() -> None:
    name = parse_ref("127.0.0.1:5000/team/housing")
    refs = [name.with_tag("1"), name.with_tag("latest"), name.with_tag("main")]
    assert [str(ref) for ref in layer_cache.candidates(name, refs, use_cache=True)] == [
        "127.0.0.1:5000/team/housing:1",
        "127.0.0.1:5000/team/housing:latest",
        "127.0.0.1:5000/team/housing:main",
    ]
    assert layer_cache.candidates(name, refs, use_cache=False) == ()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("manifest for r/m:1 not found: manifest unknown", True, id="manifest-unknown"),
        pytest.param("repository name not known to registry: name unknown", True, id="name-unknown"),
        pytest.param("unauthorized: authentication required", False, id="unauthorized"),
    ],
)
def test_is_not_found(message: str, expected: bool) -> None:
    assert layer_cache.is_not_found(message) is expected


@pytest.mark.docker
@pytest.mark.registry
def test_nothing_pushed_yet_is_quiet(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    absent = parse_ref(f"{registry.host}/modelship-test/never-pushed-{uuid.uuid4().hex[:8]}:1")
    auth = {"username": registry.username, "password": registry.password}
    client = connect()
    try:
        assert layer_cache.pull_previous(client, [absent], auth) is None
    finally:
        client.close()
    assert capsys.readouterr().out == ""


@pytest.mark.docker
def test_a_docker_hub_name_is_not_pulled_anonymously(capsys: pytest.CaptureFixture[str]) -> None:
    local_only = parse_ref(f"modelship-test/local-{uuid.uuid4().hex[:8]}:1")
    client = connect()
    try:
        assert layer_cache.pull_previous(client, [local_only], None) is None
    finally:
        client.close()
    assert capsys.readouterr().out == ""
