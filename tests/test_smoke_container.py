"""The smoke test's container (scripts.smoke_container): its log, folded for the summary, and its life on
the real Docker engine."""

from __future__ import annotations

import pytest
import requests

from scripts import smoke_container
from scripts.docker_engine import connect, local_image

BASE_IMAGE = "modelship/python-base:3.11-bookworm"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(4, ["l0", "l1", "l2", "l3"], id="short-kept-whole"),
        pytest.param(5, ["l0", "l1", "l2", "l3", "l4"], id="at-the-limit"),
        pytest.param(9, ["l0", "l1", "[... 4 lines left out ...]", "l6", "l7", "l8"], id="start-and-end"),
    ],
)
def test_fold_log(lines: int, expected: list[str]) -> None:
    text = "".join(f"l{i}\n" for i in range(lines))
    assert smoke_container.fold_log(text, head=2, tail=3).splitlines() == expected


@pytest.mark.docker
def test_a_failing_body_still_removes_the_container() -> None:
    client = connect()
    started: list[smoke_container.Running] = []

    def checks_that_break() -> None:
        image = local_image(client, BASE_IMAGE)
        with smoke_container.running(client, image, BASE_IMAGE, smoke_container.Limits(1, "256m")) as run:
            started.append(run)
            raise RuntimeError("the checks broke")

    try:
        with pytest.raises(RuntimeError, match="the checks broke"):
            checks_that_break()
        assert client.containers.list(all=True, filters={"name": started[0].name}) == []
    finally:
        client.close()
    assert started[0].url.startswith("http://127.0.0.1:")


@pytest.mark.docker
def test_waiting_for_a_container_that_exits_says_so() -> None:
    client = connect()
    try:
        image = local_image(client, BASE_IMAGE)  # runs python3 with no input: it exits at once
        with (
            smoke_container.running(client, image, BASE_IMAGE, smoke_container.Limits(1, "256m")) as run,
            requests.Session() as session,
        ):
            ready = smoke_container.wait_ready(run, session, timeout=20)
    finally:
        client.close()
    assert ready == smoke_container.Readiness(None, "the container exited with code 0 before /ready answered")
