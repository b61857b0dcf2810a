"""The smoke test's checks (scripts.smoke_checks): pure verdicts, then every check against the real
serving app run as a process on loopback (`python -m serving`, the code the image runs)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx
import pytest
import requests

from scripts import smoke_checks
from scripts.payloads import signature
from scripts.samples import Sample
from scripts.samples import load as load_samples
from serving.model import load_model
from tests.registry import free_port
from tests.serving.test_serving_process import start_server, wait_ready

PROJECT = Path(__file__).resolve().parents[1]
HOUSING = PROJECT / "examples" / "housing"


@pytest.mark.parametrize(
    ("expected", "actual", "problem"),
    [
        pytest.param((200, {"p": [1.0]}), (200, {"p": [1.000001]}), "", id="same"),
        pytest.param(
            (200, {"p": [1.0]}),
            (200, {"p": [2.0]}),
            "differs from X: $.p[0]: expected 1.0, got 2.0",
            id="wrong",
        ),
        pytest.param(
            (200, {"p": [1.0]}), (500, "Internal Server Error"), "HTTP 500 instead of 200 (X)", id="500"
        ),
        pytest.param((400, None), (400, {"error": "bad"}), "", id="both-refuse"),
        pytest.param(
            (400, None), (200, {"p": [1.0]}), "HTTP 200 instead of 400", id="accepts-what-model-refuses"
        ),
    ],
)
def test_answer_problem(expected: tuple[int, Any], actual: tuple[int, Any], problem: str) -> None:
    found = smoke_checks.answer_problem(expected, actual, "X")
    assert found.startswith(problem) if problem else found == ""


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        pytest.param(400, {"error": "bad"}, "", id="clean-400"),
        pytest.param(415, {"error": "json only"}, "", id="clean-415"),
        pytest.param(500, {"error": "boom"}, "HTTP 500 instead of a 4xx", id="500"),
        pytest.param(200, {"p": [1]}, "HTTP 200 instead of a 4xx", id="accepted"),
        pytest.param(400, "<html>bad</html>", "HTTP 400 without a JSON object body", id="html"),
    ],
)
def test_bad_answer_problem(status: int, body: Any, problem: str) -> None:
    assert smoke_checks.bad_answer_problem(status, body) == problem


@pytest.mark.parametrize(
    ("report", "outputs"),
    [
        pytest.param(
            smoke_checks.Report(
                "img:1",
                [smoke_checks.Check("ready", True)],
                cold_start_ms=1234.4,
                latencies_ms=[float(ms) for ms in range(1, 201)],
                requests=201,
                platform="linux/amd64",
            ),
            {
                "cold-start-ms": "1234",
                "latency-p50-ms": "100.00",
                "latency-p99-ms": "198.00",
                "requests": "201",
                "platform": "linux/amd64",
                "emulated": "false",
                "verdict": "pass",
            },
            id="passed",
        ),
        pytest.param(
            smoke_checks.Report(
                "img:1", [smoke_checks.Check("ready", False)], platform="linux/arm64", emulated=True
            ),
            {
                "cold-start-ms": "",
                "requests": "0",
                "platform": "linux/arm64",
                "emulated": "true",
                "verdict": "fail",
            },
            id="never-ready-no-latencies",
        ),
    ],
)
def test_the_report_s_outputs(report: smoke_checks.Report, outputs: dict[str, str]) -> None:
    assert report.passed is (outputs["verdict"] == "pass")
    assert report.outputs() == outputs
    assert list(report.outputs()) == list(outputs)


def failing_request() -> smoke_checks.Outcome:
    raise requests.ConnectionError("connection refused")


def failing_model() -> smoke_checks.Outcome:
    raise ValueError("the model broke")


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        pytest.param(failing_request, "request failed: ConnectionError: connection refused", id="request"),
        pytest.param(failing_model, "the check itself failed: ValueError: the model broke", id="model"),
    ],
)
def test_a_check_that_raises_is_a_failed_check(check: Any, problem: str) -> None:
    assert smoke_checks.run_check(check) == smoke_checks.Outcome(problem)


# ---- against the real serving app ----------------------------------------------------------------


@pytest.fixture(scope="module")
def served_housing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m serving` on the housing example at 127.0.0.1; stopped at the end whatever happened."""
    port = free_port()
    process = start_server(HOUSING, port, tmp_path_factory.mktemp("serving") / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


def context(
    url: str, model_dir: Path, samples: list[Sample], session: requests.Session
) -> smoke_checks.Context:
    """The checks' context for the server at `url`, with `model_dir` loaded in-process as the reference."""
    model = load_model(model_dir)
    reference = model.metadata()
    server = smoke_checks.Server(url, session, smoke_checks.Report("housing"))
    return smoke_checks.Context(server, model, samples, reference, signature(reference))


def test_every_check_passes_against_the_same_model(
    served_housing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = load_samples(HOUSING / "samples.json")
    with requests.Session() as session:
        ctx = context(served_housing, HOUSING, samples, session)
        smoke_checks.run_checks(ctx)
    report = ctx.report
    names = [check.name for check in report.checks]
    assert names[0] == "metadata"
    assert names[1 : 1 + len(samples)] == [f"/predict sample {i}" for i in range(1, len(samples) + 1)]
    assert "/v2/models/housing/infer v2-3" in names
    assert names[-2:] == ["ready after bad requests", f"latency burst ({smoke_checks.BURST} requests)"]
    assert [check for check in report.checks if not check.ok] == []
    assert len(report.latencies_ms) == smoke_checks.BURST
    assert report.requests == len(names) - 1 + smoke_checks.BURST
    assert capsys.readouterr().out.count("✅") == len(names)


def test_a_different_model_in_process_fails_the_answer_checks(served_housing: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    shutil.copytree(HOUSING, wrong)
    model = onnx.load(str(wrong / "model.onnx"))
    regressor = next(node for node in model.graph.node if node.op_type == "LinearRegressor")
    next(attr for attr in regressor.attribute if attr.name == "intercepts").floats[0] += 1.0
    onnx.save(model, str(wrong / "model.onnx"))
    sample = load_samples(HOUSING / "samples.json")[0]
    with requests.Session() as session:
        ctx = context(served_housing, wrong, [sample], session)
        outcome = smoke_checks.sample_answer(ctx, sample)
        metadata = smoke_checks.metadata_matches(ctx)
    assert outcome.problem.startswith("differs from the model run in-process: $.prediction[0]")
    assert metadata == smoke_checks.Outcome("", "model housing 1, same inputs and outputs")


def test_a_server_that_is_gone_fails_each_check_by_name() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with requests.Session() as session:
        ctx = context(url, HOUSING, [], session)
        problem, _ = smoke_checks.run_check(lambda: smoke_checks.still_ready(ctx))
    assert problem.startswith("request failed: ConnectionError")
