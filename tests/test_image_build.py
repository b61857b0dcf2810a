"""One planned build on the engine (scripts.image_build): the staged context's model folder, the build
stream's events and the failure message, without Docker; the builds themselves run in
tests/test_build.py, tests/test_multiarch.py and tests/test_image_external_data.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts import build, image_build
from serving.model_folder import PROVENANCE_FILE
from tests.mlflow_models import write_folder
from tests.test_build import fetched
from tests.test_fetch_external_data import model_with_weights_at


@pytest.fixture
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> image_build.BuildPlan:
    """The housing example's checked plan, on a base image the engine need not have."""
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))  # the fetch's outputs
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step_summary"))
    model = fetched(tmp_path / "model")
    return build.plan(build.BuildRequest(model, "housing", base_image="registry.example/base:1"))


@pytest.mark.parametrize(
    ("location", "variant"),
    [
        pytest.param(".weights.bin", "", id="dotted"),
        pytest.param("data/.weights.bin", "", id="nested-dotted"),
        pytest.param("weights.bin", "", id="plain"),
        pytest.param(".weights.bin", "int8", id="dotted-int8"),  # the variant's folder and listing
    ],
)
def test_the_context_holds_exactly_the_files_provenance_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str, variant: str
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step_summary"))
    fetched_dir = fetched(tmp_path / "model", model_with_weights_at(tmp_path / "source", location))
    # Left in the folder after the fetch, never listed: an editor's backup, bytecode, a hidden file.
    write_folder(fetched_dir, {"model.onnx~": b"b", "__pycache__/x.cpython-311.pyc": b"\0", ".notes": b"x"})
    request = build.BuildRequest(
        fetched_dir, "housing", base_image="registry.example/base:1", quantize=variant
    )
    checked = build.plan(request)
    model = checked.model_dir  # the variant's own folder when quantized
    listed = json.loads((model / PROVENANCE_FILE).read_text(encoding="utf-8"))["files"]
    assert sorted(listed) == sorted([location, "model.onnx", "modelship.json", "samples.json"])
    assert listed["model.onnx"] == checked.record.sha256
    (tmp_path / "wheels").mkdir()
    (tmp_path / "context").mkdir()

    image_build.stage_context(checked, tmp_path / "wheels", tmp_path / "context")

    staged = tmp_path / "context" / "model"
    in_context = {path.relative_to(staged).as_posix() for path in staged.rglob("*") if path.is_file()}
    assert in_context == set(listed)  # provenance.json too stays out: its fetch time would change the layer
    assert all((staged / name).read_bytes() == (model / name).read_bytes() for name in listed)


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
