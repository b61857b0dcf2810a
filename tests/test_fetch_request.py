"""The fetch step's inputs (scripts.fetch_request): a host's parser with the fetch inputs, checked
into a typed `FetchRequest` without the step's `main`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts import fetch, gha
from scripts.download_limits import Limits
from scripts.fetch_request import FetchRequest, check_request


@pytest.fixture(autouse=True)
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No step inputs in the environment, as in a terminal."""
    for name in list(os.environ):
        if name.startswith("INPUT_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def host_parser() -> gha.StepParser:
    """A parser of another program (the local pipeline) that reads the model with the fetch inputs."""
    parser = gha.StepParser(prog="host")
    fetch.add_inputs(parser, source_default="local")
    parser.add_input("--image-name")
    return parser


def test_a_host_parser_with_the_fetch_inputs_checks_into_a_typed_request(tmp_path: Path) -> None:
    args = host_parser().parse_args(
        ["--model", "m.onnx", "--dest", str(tmp_path / "d"), "--model-name", "churn", "--image-name", "x"]
    )
    assert check_request(args) == FetchRequest(
        source="local",
        dest=tmp_path / "d",
        model="m.onnx",
        name="churn",
        limits=Limits(max_bytes=2048 * 1024 * 1024, timeout=300.0),
    )


def test_the_fetch_inputs_keep_their_defaults_and_the_source_s_comes_from_the_host() -> None:
    host = host_parser().parse_args([])
    step = fetch.build_parser().parse_args([])
    assert (host.source, step.source) == ("local", None)
    shared = {name: value for name, value in vars(host).items() if name not in {"source", "image_name"}}
    assert shared == {name: value for name, value in vars(step).items() if name != "source"}
    assert (step.dest, step.timeout, step.max_size_mb) == (".modelship/model", "300", "2048")


def test_an_input_source_variable_wins_over_the_host_s_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_SOURCE", "https")
    with pytest.raises(gha.StepError) as refused:
        check_request(host_parser().parse_args(["--model", "m.onnx"]))
    assert str(refused.value) == "source 'https' needs an https:// URL as --model, not 'm.onnx'"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--model", "https://example.com/m.onnx"],
            "--model is a URL (https://example.com/m.onnx); use source 'https' for URLs",
            id="local-url",
        ),
        pytest.param(
            ["--model", "m.onnx", "--timeout", "soon"],
            "--timeout must be a positive number, not 'soon'",
            id="timeout-not-a-number",
        ),
        pytest.param(
            ["--model", "m.onnx", "--timeout", "nan"],
            "--timeout must be a positive number, not 'nan'",
            id="timeout-nan",
        ),
        pytest.param(
            ["--model", "m.onnx", "--max-size-mb", "inf"],
            "--max-size-mb must be a positive number, not 'inf'",
            id="max-size-inf",
        ),
        pytest.param(
            ["--model", "m.onnx", "--model-registry", "shared"],
            "--model-registry only applies to source 'azureml', not to source 'local'",
            id="registry-with-local",
        ),
    ],
)
def test_bad_input_is_refused_without_the_step_s_main(argv: list[str], message: str) -> None:
    with pytest.raises(gha.StepError) as refused:
        check_request(host_parser().parse_args(argv))
    assert str(refused.value) == message
    assert refused.value.exit_code == 1
