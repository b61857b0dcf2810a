"""One planned build on the engine (scripts.image_build): the build stream's events and the failure
message, pure; the builds themselves run in tests/test_build.py and tests/test_multiarch.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts import build, image_build
from tests.test_build import fetched


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> image_build.BuildPlan:
    """The housing example's checked plan, on a base image the engine need not have."""
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))  # the fetch's outputs
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step_summary"))
    model = fetched(tmp_path / "model")
    return build.plan(build.BuildRequest(model, "housing", base_image="registry.example/base:1"))


def test_the_build_stream_becomes_log_error_and_id_events() -> None:
    chunks: list[dict[str, Any]] = [
        {"stream": "Step 1/2 : FROM base\n"},
        {"status": "Downloading", "progress": "[==>  ]"},
        {"status": "Pulling fs layer"},
        {"aux": {"ID": "sha256:abc"}},
        {"errorDetail": {"message": "no space left"}},
        {"error": "it broke", "errorDetail": {"message": "ignored: error wins"}},
        {"aux": "not a dict"},
    ]
    assert list(image_build.stream_log(chunks)) == [
        ("log", "Step 1/2 : FROM base\n"),
        ("log", "Downloading [==>  ]\n"),
        ("log", "Pulling fs layer\n"),
        ("id", "sha256:abc"),
        ("error", "no space left"),
        ("error", "it broke"),
    ]


@pytest.mark.parametrize(
    ("error", "tail", "hint"),
    [
        pytest.param(
            "manifest unknown",
            ["Step 1/9 : ARG BASE_IMAGE=x", "Step 2/9 : FROM ${BASE_IMAGE} AS wheels"],
            "the base image registry.example/base:1 is not on this engine and could not be pulled",
            id="failed-at-from",
        ),
        pytest.param(
            "pull access denied for base, repository does not exist",
            [],
            "the base image registry.example/base:1 is not on this engine",
            id="pull-access-denied",
        ),
        pytest.param(
            "returned a non-zero code: 3",
            ["Step 2/9 : FROM ${BASE_IMAGE}", "Step 3/9 : RUN exit 3"],
            "fix the failing Dockerfile step shown in the log",
            id="a-later-step",
        ),
    ],
)
def test_a_failed_build_says_what_to_fix_and_shows_the_log_tail(
    plan: image_build.BuildPlan, error: str, tail: list[str], hint: str
) -> None:
    message = image_build.failure_message(f" {error}\n", tail, plan)
    assert message.startswith(f"the image build failed: {error}; {hint}")
    assert message.endswith("Last lines of the build log:\n" + "\n".join(tail))
