"""The smoke-test step: its inputs and summary, then real containers of the serving image."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import onnx
import pytest

from scripts import gha, smoke_checks, smoke_container, smoke_test
from scripts.gha import StepError, read_outputs
from tests.steps import StepRun, run_step

PROJECT = Path(__file__).resolve().parents[1]
HOUSING = PROJECT / "examples" / "housing"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"


def test_summary_leads_with_the_verdict() -> None:
    report = smoke_checks.Report(
        "img:1", cold_start_ms=1234.4, latencies_ms=[float(v) for v in range(1, 201)]
    )
    report.checks = [smoke_checks.Check("ready", True), smoke_checks.Check("/predict sample 1", True)]
    passed = smoke_test.summary(report)
    assert passed.splitlines()[0] == (
        "✅ **smoke test passed**: `img:1`, cold start 1234 ms, p99 198.0 ms (p50 100.0 ms over 200 requests)"
    )
    assert "| /predict sample 1 | ✅ |  |" in passed
    report.checks.append(smoke_checks.Check("refuses not-json", False, "HTTP 500 | instead of a 4xx"))
    report.log = "Traceback: boom"
    failed = smoke_test.summary(report)
    assert failed.startswith("❌ **smoke test failed** (1 of 3 checks): `img:1`")
    assert "| refuses not-json | ❌ | HTTP 500 \\| instead of a 4xx |" in failed
    assert "<details><summary>container log</summary>" in failed
    assert "Traceback: boom" in failed


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        pytest.param(
            ["--model-dir", "/nonexistent"], "--model-dir (/nonexistent) holds no model.onnx", id="no-model"
        ),
        pytest.param(
            ["--model-dir", str(HOUSING), "--timeout", "soon"],
            "--timeout must be a positive number, not 'soon'",
            id="timeout",
        ),
        pytest.param(
            ["--model-dir", str(HOUSING), "--cpus", "0"],
            "--cpus must be a positive number, not '0'",
            id="cpus",
        ),
        pytest.param(
            ["--model-dir", str(HOUSING), "--samples", "/no/such.json"],
            "--samples (/no/such.json) does not exist",
            id="samples",
        ),
    ],
)
def test_bad_inputs_are_refused(args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        smoke_test.main(["--image", "whatever:1", *args])
    assert exited.value.code == 1
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        pytest.param(
            {"model_dir": Path("/nonexistent")},
            "--model-dir (/nonexistent) holds no model.onnx; pass the folder the fetch step wrote",
            id="no-model",
        ),
        pytest.param({"timeout": "soon"}, "--timeout must be a positive number, not 'soon'", id="timeout"),
        pytest.param({"cpus": "0"}, "--cpus must be a positive number, not '0'", id="cpus"),
        pytest.param({"timeout": "NaN"}, "--timeout must be a positive number, not 'NaN'", id="timeout-nan"),
        pytest.param({"cpus": "-inf"}, "--cpus must be a positive number, not '-inf'", id="cpus-minus-inf"),
        pytest.param({"samples": "/no/such.json"}, "--samples (/no/such.json) does not exist", id="samples"),
    ],
)
def test_the_checked_request_refuses_without_main(given: dict[str, Any], complaint: str) -> None:
    with pytest.raises(StepError) as refused:
        smoke_test.request(**{"image": "whatever:1", "model_dir": HOUSING, **given})
    assert str(refused.value).startswith(complaint)


def test_the_request_s_defaults_are_the_command_line_s() -> None:
    by_command_line = smoke_test.parse_args(["--image", "img:1", "--model-dir", str(HOUSING)])
    assert by_command_line == smoke_test.request("img:1", HOUSING)
    assert by_command_line == smoke_test.SmokeRequest("img:1", HOUSING, HOUSING / "samples.json")
    assert (by_command_line.timeout, by_command_line.limits) == (60.0, smoke_container.Limits(1.0, "512m"))


# ---- real containers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Images:
    """The serving images the integration tests run: one right, one answering wrong."""

    good: str
    wrong: str
    sentiment: str


def step(module: str, args: list[str], work: Path) -> dict[str, str]:
    """Run another pipeline step as a process (as the workflow does) and return its outputs."""
    outputs = work / f"{module}-{uuid.uuid4().hex[:6]}.out"
    env = {**os.environ, "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": ""}
    done = subprocess.run(
        [sys.executable, "-m", f"scripts.{module}", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"scripts.{module} failed:\n{done.stdout}\n{done.stderr}"
    return read_outputs(outputs)


def build_image(model_dir: Path, image_name: str, work: Path) -> list[str]:
    """Fetch `model_dir` and build the serving image with the real fetch and build steps; return its refs."""
    fetched = work / image_name.rsplit("/", 1)[1]
    step("fetch", ["--source", "local", "--model", str(model_dir), "--dest", str(fetched)], work)
    options = ["--model-dir", str(fetched), "--image-name", image_name, "--base-image", BASE_IMAGE]
    git = ["--git-ref", "refs/heads/smoke-test", "--git-sha", "5" * 40, "--default-branch", "main"]
    built = step("build", [*options, *git], work)
    return built["tags"].splitlines()


def wrong_housing(folder: Path) -> Path:
    """The housing model with its intercept moved by 1: same signature, different answers."""
    shutil.copytree(HOUSING, folder)
    model = onnx.load(str(folder / "model.onnx"))
    regressor = next(node for node in model.graph.node if node.op_type == "LinearRegressor")
    intercepts = next(attr for attr in regressor.attribute if attr.name == "intercepts")
    intercepts.floats[0] += 1.0
    onnx.save(model, str(folder / "model.onnx"))
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    """Build the right and the wrong serving image once; remove both afterwards."""
    work = tmp_path_factory.mktemp("smoke-images")
    run = uuid.uuid4().hex[:8]
    refs: list[str] = []
    try:
        good = build_image(HOUSING, f"modelship-test/smoke-good-{run}", work)
        refs += good
        wrong = build_image(wrong_housing(work / "wrong"), f"modelship-test/smoke-wrong-{run}", work)
        refs += wrong
        sentiment = build_image(PROJECT / "examples" / "sentiment", f"modelship-test/smoke-text-{run}", work)
        refs += sentiment
        yield Images(good[0], wrong[0], sentiment[0])
    finally:
        client = docker.from_env()
        for ref in refs:  # by tag, not by id: an identical image of another test may share the id
            client.images.remove(ref)
        client.close()


def run_smoke(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StepRun:
    return run_step(smoke_test.main, args, tmp_path, monkeypatch)


def container_named_in(out: str) -> str:
    line = next(line for line in out.splitlines() if line.startswith("started container "))
    return line.split()[2]


def assert_removed(name: str) -> None:
    client = docker.from_env()
    try:
        assert client.containers.list(all=True, filters={"name": name}) == []
    finally:
        client.close()


@pytest.mark.docker
def test_correct_image_passes(images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_smoke(["--image", images.good, "--model-dir", str(HOUSING)], tmp_path, monkeypatch)
    assert run.code == 0, run.out + run.err
    assert run.summary.startswith(f"✅ **smoke test passed**: `{images.good}`, cold start ")
    assert run.outputs["verdict"] == "pass"
    assert 0 < float(run.outputs["cold-start-ms"]) < 60_000
    assert 0 < float(run.outputs["latency-p50-ms"]) <= float(run.outputs["latency-p99-ms"])
    assert int(run.outputs["requests"]) > smoke_checks.BURST
    for check in ("/predict sample 1", "/invocations dataframe-records-3", "/infer v2-3", "refuses not-json"):
        assert check in run.summary
    assert "container log" not in run.summary
    assert "| refuses wrong-content-type | ✅ | HTTP 415" in run.summary
    assert re.search(
        r"\| latency burst \(200 requests\) \| ✅ \| p50 [\d.]+ ms, p99 [\d.]+ ms \|", run.summary
    )
    assert_removed(container_named_in(run.out))


@pytest.mark.docker
def test_run_returns_the_report_whose_outputs_main_writes(
    images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_main = run_smoke(["--image", images.good, "--model-dir", str(HOUSING)], tmp_path, monkeypatch)
    assert by_main.code == 0, by_main.out + by_main.err
    result = smoke_test.run(smoke_test.request(images.good, HOUSING))
    assert result.passed
    assert result.image == images.good
    assert 0 < (result.cold_start_ms or 0) < 60_000
    assert len(result.latencies_ms) == smoke_checks.BURST
    rows = [line for line in by_main.summary.splitlines() if line.startswith("| ")][2:]  # below the header
    assert [gha.table_cell(check.name) for check in result.checks] == [
        row.split(" | ")[0][2:] for row in rows
    ]
    assert all(check.ok for check in result.checks)
    outputs = result.outputs()
    assert list(outputs) == list(by_main.outputs)
    timings = ("cold-start-ms", "latency-p50-ms", "latency-p99-ms")
    assert outputs | dict.fromkeys(timings, "") == by_main.outputs | dict.fromkeys(timings, "")
    assert outputs["cold-start-ms"] == f"{result.cold_start_ms:.0f}"
    assert outputs["latency-p99-ms"] == f"{result.p99_ms:.2f}"


@pytest.mark.docker
@pytest.mark.parametrize("samples", [pytest.param(True, id="samples"), pytest.param(False, id="generated")])
def test_text_model_passes(
    samples: bool, images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    ignore = shutil.ignore_patterns() if samples else shutil.ignore_patterns("samples.json")
    shutil.copytree(PROJECT / "examples" / "sentiment", model_dir, ignore=ignore)
    run = run_smoke(["--image", images.sentiment, "--model-dir", str(model_dir)], tmp_path, monkeypatch)
    assert run.code == 0, run.out + run.err
    assert ("/predict sample 3" in run.summary) is samples
    assert ("/predict values-3" in run.summary) is not samples
    assert "/v2/models/sentiment/infer v2-3 | ✅" in run.summary


@pytest.mark.docker
def test_generated_payloads_without_samples(
    images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(HOUSING, model_dir, ignore=shutil.ignore_patterns("samples.json"))
    run = run_smoke(["--image", images.good, "--model-dir", str(model_dir)], tmp_path, monkeypatch)
    assert run.code == 0, run.out + run.err
    assert "/predict records-1" in run.summary
    assert "/predict columns-3" in run.summary
    assert "sample 1" not in run.summary


@pytest.mark.docker
def test_wrong_answers_fail_naming_payload_and_difference(
    images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_smoke(["--image", images.wrong, "--model-dir", str(HOUSING)], tmp_path, monkeypatch)
    assert run.code == 1
    assert run.outputs["verdict"] == "fail"
    assert (
        "smoke test failed: /predict sample 1: differs from the expected response in the samples file: "
        in run.err
    )
    assert "$.prediction[0]: expected 20.35" in run.err
    assert "(off by 1)" in run.err
    assert run.summary.startswith("❌ **smoke test failed**")
    assert "| /invocations dataframe-records-1 | ❌ | differs from the model run in-process" in run.summary
    assert "<details><summary>container log</summary>" in run.summary
    assert "--- container log" in run.out
    assert_removed(container_named_in(run.out))


@pytest.mark.docker
def test_container_that_exits_fails_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bare base image runs `python3` with no input: it exits at once and never answers /ready.
    run = run_smoke(
        ["--image", BASE_IMAGE, "--model-dir", str(HOUSING), "--timeout", "20"], tmp_path, monkeypatch
    )
    assert run.code == 1
    assert "the container exited with code 0 before /ready answered" in run.err
    assert run.outputs["cold-start-ms"] == ""
    assert_removed(container_named_in(run.out))


@pytest.mark.docker
def test_run_of_a_container_that_exits_returns_the_failed_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_main = run_smoke(
        ["--image", BASE_IMAGE, "--model-dir", str(HOUSING), "--timeout", "20"], tmp_path, monkeypatch
    )
    result = smoke_test.run(smoke_test.request(BASE_IMAGE, HOUSING, timeout="20"))
    assert not result.passed
    assert result.checks == [
        smoke_checks.Check("ready", False, "the container exited with code 0 before /ready answered")
    ]
    assert (result.cold_start_ms, result.latencies_ms, result.requests) == (None, [], 0)
    assert result.outputs() == by_main.outputs
    assert list(result.outputs()) == ["cold-start-ms", "requests", "platform", "emulated", "verdict"]


@pytest.mark.docker
def test_run_without_main_says_build_first() -> None:
    missing = f"modelship-test/never-built-{uuid.uuid4().hex[:8]}:1"
    with pytest.raises(
        StepError, match=f"image {missing!r} is not in the local Docker engine; run the build"
    ):
        smoke_test.run(smoke_test.request(missing, HOUSING))


@pytest.mark.docker
def test_not_ready_within_the_timeout_fails(
    images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--image", images.good, "--model-dir", str(HOUSING), "--timeout", "0.05"]
    run = run_smoke(args, tmp_path, monkeypatch)
    assert run.code == 1
    assert "smoke test failed: ready: GET /ready did not answer 200 within 0.05s" in run.err
    assert_removed(container_named_in(run.out))


@pytest.mark.docker
def test_bad_memory_limit_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--image", BASE_IMAGE, "--model-dir", str(HOUSING), "--memory", "lots"]
    run = run_smoke(args, tmp_path, monkeypatch)
    assert run.code == 1
    assert "cannot create a container of" in run.err
    assert "--memory lots" in run.err


@pytest.mark.docker
def test_missing_image_says_build_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = f"modelship-test/never-built-{uuid.uuid4().hex[:8]}:1"
    run = run_smoke(["--image", missing, "--model-dir", str(HOUSING)], tmp_path, monkeypatch)
    assert run.code == 1
    assert f"image {missing!r} is not in the local Docker engine; run the build step first" in run.err


@pytest.mark.docker
def test_interrupt_still_removes_the_container(images: Images) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.smoke_test", "--image", images.good, "--model-dir", str(HOUSING)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GITHUB_OUTPUT": "", "GITHUB_STEP_SUMMARY": ""},
    )
    assert process.stdout is not None
    name = ""
    try:
        for line in process.stdout:
            if line.startswith("started container "):
                name = line.split()[2]
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert name, err
    assert process.returncode != 0
    assert_removed(name)


def test_inputs_come_from_the_environment_in_actions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INPUT_IMAGE", "whatever:1")
    monkeypatch.setenv("INPUT_MODEL_DIR", str(HOUSING))
    monkeypatch.setenv("INPUT_TIMEOUT", "soon")
    with pytest.raises(SystemExit) as exited:
        smoke_test.main([])
    assert exited.value.code == 1
    assert "input 'timeout' must be a positive number, not 'soon'" in capsys.readouterr().err
