"""The smoke-test step: payload generation and verdicts (pure), then real containers of the serving image."""

from __future__ import annotations

import json
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
from onnx import TensorProto, helper

from scripts import payloads, smoke_test
from scripts import samples as samples_file
from scripts.gha import StepError, read_outputs
from scripts.payloads import Input, Signature
from serving.errors import ClientError
from serving.model import load_model
from tests.steps import StepRun, run_step

PROJECT = Path(__file__).resolve().parents[1]
HOUSING = PROJECT / "examples" / "housing"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"

# ---- payloads from a signature -----------------------------------------------------------------


def metadata(inputs: list[tuple[str, str, list[Any] | None]], **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": n, "dtype": t, "shape": s} for n, t, s in inputs], **extra}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            metadata([("x", "float", [None, 4])]),
            Signature((Input("x", "float", (None, 4)),), (), True),
            id="one-2d-input-is-a-matrix",
        ),
        pytest.param(
            metadata([("x", "float", [None, 1])]),
            Signature((Input("x", "float", (None, 1)),), ("x",), False),
            id="one-column",
        ),
        pytest.param(
            metadata([("x", "float", [None, 2])], columns=["a", "b"], input_mode="matrix"),
            Signature((Input("x", "float", (None, 2)),), ("a", "b"), True),
            id="declared-columns",
        ),
        pytest.param(
            metadata(
                [("a", "int64", [None, 1]), ("b", "string", [None])], columns=["a", "b"], input_mode="columns"
            ),
            Signature((Input("a", "int64", (None, 1)), Input("b", "string", (None,))), ("a", "b"), False),
            id="input-per-column",
        ),
        pytest.param(
            metadata([("x", "float", ["N", -1, 3])]),
            Signature((Input("x", "float", (None, None, 3)),), ("x",), False),
            id="symbolic-dims-are-none",
        ),
    ],
)
def test_signature(body: dict[str, Any], expected: Signature) -> None:
    assert payloads.signature(body) == expected


def test_signature_needs_inputs() -> None:
    with pytest.raises(ValueError, match="no inputs"):
        payloads.signature({"inputs": []})


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        pytest.param("float", [0.5, 0.625, 1.25], id="float"),
        pytest.param("int64", [0, 2, 1], id="int"),
        pytest.param("bool", [True, False, False], id="bool"),
        pytest.param("string", ["modelship smoke test sample", *payloads.SAMPLE_TEXTS[1:2] * 2], id="string"),
    ],
)
def test_scalar_values_are_deterministic_and_typed(dtype: str, values: list[Any]) -> None:
    assert [payloads.scalar(dtype, r, c) for r, c in [(0, 0), (0, 1), (1, 0)]] == values


def test_tensor_has_the_row_shape() -> None:
    value = payloads.tensor("float", (2, 3), 0, 0)
    assert [len(value), len(value[0])] == [2, 3]
    assert len(set(payloads.flatten(value))) == 6


@pytest.mark.parametrize(
    ("shape", "sizes"),
    [
        pytest.param([None, 3], (1, 3), id="dynamic"),
        pytest.param([1, 3], (1,), id="fixed-1"),
        pytest.param([2, 3], (2,), id="fixed-2"),
    ],
)
def test_batch_sizes(shape: list[int | None], sizes: tuple[int, ...]) -> None:
    assert payloads.signature(metadata([("x", "float", shape)])).batch_sizes == sizes


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([5.0], 99, 5.0, id="single"),
        pytest.param([float(v) for v in range(1, 101)], 50, 50.0, id="p50-of-100"),
        pytest.param([float(v) for v in range(1, 101)], 99, 99.0, id="p99-of-100"),
        pytest.param([float(v) for v in range(200, 0, -1)], 99, 198.0, id="p99-of-200-unsorted"),
        pytest.param([1.0, 2.0, 3.0], 100, 3.0, id="max"),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert payloads.percentile(values, q) == expected


def save_model(tmp_path: Path, graph: onnx.GraphProto, columns: list[str] | None = None) -> Path:
    """Write a one-graph ONNX model folder (opset 17) and return it."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if columns:
        helper.set_model_props(model, {"modelship.columns": json.dumps(columns)})
    onnx.checker.check_model(model)
    folder = tmp_path / graph.name
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def matmul_graph(name: str, shape: list[Any], width: int) -> onnx.GraphProto:
    weights = helper.make_tensor("w", TensorProto.FLOAT, [width, 1], [0.5 + i for i in range(width)])
    return helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], 1])],
        [weights],
    )


def two_inputs_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [
            helper.make_node("Cast", ["a"], ["af"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["af", "b"], ["y"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.INT64, ["N", 1]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
    )


def image_graph() -> onnx.GraphProto:
    weights = helper.make_tensor("w", TensorProto.FLOAT, [4, 1], [1.0, 2.0, 3.0, 4.0])
    return helper.make_graph(
        [
            helper.make_node("Flatten", ["img"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["y"]),
        ],
        "image",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [weights],
    )


def bool_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Cast", ["flag"], ["y"], to=TensorProto.FLOAT)],
        "flags",
        [helper.make_tensor_value_info("flag", TensorProto.BOOL, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
    )


MODELS = [
    pytest.param(lambda: (matmul_graph("matrix", ["N", 4], 4), None), id="matrix-no-columns"),
    pytest.param(lambda: (matmul_graph("named", ["N", 3], 3), ["u", "v", "w"]), id="matrix-declared-columns"),
    pytest.param(lambda: (matmul_graph("fixed", [1, 3], 3), None), id="fixed-batch-of-1"),
    pytest.param(lambda: (two_inputs_graph(), None), id="input-per-column"),
    pytest.param(lambda: (image_graph(), None), id="multi-dim-input"),
    pytest.param(lambda: (bool_graph(), None), id="bool-input"),
    pytest.param(lambda: None, id="housing-example"),
]


@pytest.fixture(params=MODELS)
def served_model(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A model loaded by the serving code itself, for each kind of input signature."""
    made = request.param()
    folder = HOUSING if made is None else save_model(tmp_path, *made)
    return load_model(folder)


def rows_of(answer: dict[str, Any]) -> int:
    values = next(iter(answer.values()))
    return len(values) if isinstance(values, list) else 1


def test_generated_payloads_are_accepted_by_the_server_code(served_model: Any) -> None:
    sig = payloads.signature(served_model.metadata())
    predict = payloads.predict_payloads(sig)
    assert predict, "no payloads generated"
    for payload in predict:
        assert rows_of(served_model.predict(payload.body)) == int(payload.name.rsplit("-", 1)[1]), (
            payload.name
        )
    for payload in payloads.invocations_payloads(sig):
        assert rows_of(served_model.invocations(payload.body)) == int(payload.name.rsplit("-", 1)[1])
    for payload in payloads.v2_payloads(sig):
        outputs = served_model.infer_v2(payload.body)["outputs"]
        assert outputs[0]["shape"][0] == int(payload.name.rsplit("-", 1)[1])


def test_bad_payloads_are_refused_by_the_server_code(served_model: Any) -> None:
    sig = payloads.signature(served_model.metadata())
    bad = {b.name: b for b in payloads.bad_payloads(sig)}
    assert sorted(bad) == ["empty-batch", "not-json", "unknown-column", "wrong-content-type", "wrong-type"]
    with pytest.raises(ValueError, match="Expecting value"):
        json.loads(bad["not-json"].data)
    assert bad["wrong-content-type"].content_type != "application/json"
    for name in ("unknown-column", "wrong-type", "empty-batch"):
        with pytest.raises(ClientError) as refused:
            served_model.predict(json.loads(bad[name].data))
        assert 400 <= refused.value.status < 500, name


# ---- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        pytest.param("{", "is not valid JSON", id="not-json"),
        pytest.param("[]", "non-empty list", id="empty"),
        pytest.param('{"request": 1}', "non-empty list", id="object"),
        pytest.param(
            '[{"request": [1]}]', 'entry 1 must be an object with "request" and "response"', id="no-response"
        ),
    ],
)
def test_read_samples_refuses(text: str, complaint: str) -> None:
    with pytest.raises(StepError, match=r"samples\.json") as caught:
        samples_file.read_samples(text, "samples.json")
    assert complaint in str(caught.value)


def test_read_samples_names_them() -> None:
    samples = samples_file.read_samples((HOUSING / "samples.json").read_text(), "samples.json")
    assert [s.name for s in samples][:2] == ["sample 1", "sample 2"]


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
    found = smoke_test.answer_problem(expected, actual, "X")
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
    assert smoke_test.bad_answer_problem(status, body) == problem


def test_summary_leads_with_the_verdict() -> None:
    report = smoke_test.Report("img:1", cold_start_ms=1234.4, latencies_ms=[float(v) for v in range(1, 201)])
    report.checks = [smoke_test.Check("ready", True), smoke_test.Check("/predict sample 1", True)]
    passed = smoke_test.summary(report)
    assert passed.splitlines()[0] == (
        "✅ **smoke test passed**: `img:1`, cold start 1234 ms, p99 198.0 ms (p50 100.0 ms over 200 requests)"
    )
    assert "| /predict sample 1 | ✅ |  |" in passed
    report.checks.append(smoke_test.Check("refuses not-json", False, "HTTP 500 | instead of a 4xx"))
    report.log = "Traceback: boom"
    failed = smoke_test.summary(report)
    assert failed.startswith("❌ **smoke test failed** (1 of 3 checks): `img:1`")
    assert "| refuses not-json | ❌ | HTTP 500 \\| instead of a 4xx |" in failed
    assert "<details><summary>container log</summary>" in failed
    assert "Traceback: boom" in failed


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
    assert smoke_test.fold_log(text, head=2, tail=3).splitlines() == expected


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        pytest.param(["--model-dir", "/nonexistent"], "holds no model.onnx", id="no-model"),
        pytest.param(
            ["--model-dir", str(HOUSING), "--timeout", "soon"], "--timeout must be a number", id="timeout"
        ),
        pytest.param(["--model-dir", str(HOUSING), "--cpus", "0"], "--cpus must be positive", id="cpus"),
        pytest.param(
            ["--model-dir", str(HOUSING), "--samples", "/no/such.json"], "does not exist", id="samples"
        ),
    ],
)
def test_bad_inputs_are_refused(args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        smoke_test.main(["--image", "whatever:1", *args])
    assert exited.value.code == 1
    assert complaint in capsys.readouterr().err


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
    assert int(run.outputs["requests"]) > smoke_test.BURST
    for check in ("/predict sample 1", "/invocations dataframe-records-3", "/infer v2-3", "refuses not-json"):
        assert check in run.summary
    assert "container log" not in run.summary
    assert "| refuses wrong-content-type | ✅ | HTTP 415" in run.summary
    assert re.search(
        r"\| latency burst \(200 requests\) \| ✅ \| p50 [\d.]+ ms, p99 [\d.]+ ms \|", run.summary
    )
    assert_removed(container_named_in(run.out))


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
    assert "--timeout must be a number, not 'soon'" in capsys.readouterr().err
