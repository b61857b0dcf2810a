"""The local pipeline's chaining and report (the steps themselves are tested on their own)."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts import build, gha, pipeline, scanners
from scripts.fetch_request import check_request

GRYPE = scanners.pinned_version("grype")
HOUSING = Path(__file__).resolve().parents[1] / "examples" / "housing"


@dataclass(frozen=True)
class Ended:
    """A step's typed result, as small as the protocol allows."""

    passed: bool = True
    named: dict[str, str] = field(default_factory=dict)

    def outputs(self) -> dict[str, str]:
        return dict(self.named)


def test_a_step_s_typed_result_is_handed_on_and_recorded_with_its_outputs() -> None:
    steps, reported = pipeline.Steps(), list[Ended]()
    ended = Ended(named={"image": "a:1", "tags": "a:1\na:latest"})
    assert steps.run("build", lambda: ended, reported.append) is ended
    assert reported == [ended]
    [record] = steps.ended
    assert (record.name, record.exit_code, record.outputs) == ("build", 0, ended.outputs())


def test_a_failed_gate_keeps_its_outputs_and_stops_the_run() -> None:
    steps = pipeline.Steps()
    with pytest.raises(pipeline.Stopped):
        steps.run("scan", lambda: Ended(passed=False, named={"verdict": "fail"}), lambda _: None)
    [record] = steps.ended
    assert (record.ok, record.exit_code, record.outputs) == (False, 1, {"verdict": "fail"})


def test_a_step_error_is_reported_with_its_exit_code_and_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))

    def refuses() -> Ended:
        raise gha.StepError("the model is not valid ONNX", exit_code=2)

    steps = pipeline.Steps()
    with pytest.raises(pipeline.Stopped):
        steps.run("fetch", refuses, lambda _: None)
    [record] = steps.ended
    assert (record.ok, record.exit_code, record.outputs) == (False, 2, {})
    assert "error: the model is not valid ONNX" in capsys.readouterr().err
    assert "❌ the model is not valid ONNX" in (tmp_path / "summary").read_text(encoding="utf-8")


def test_what_a_failed_step_finished_first_is_reported_and_kept(capsys: pytest.CaptureFixture[str]) -> None:
    """A build that failed after its int8 gate passed: the gate's figures, as the step's main shows them."""
    gate = Ended(named={"quantize-verdict": "pass", "model-dir": "/w/model-int8"})

    def fails_after_the_gate() -> Ended:
        raise gha.StepError("the image build failed: no base", partial=gate)

    steps, reported = pipeline.Steps(), list[Ended]()
    with pytest.raises(pipeline.Stopped):
        steps.run("build", fails_after_the_gate, reported.append)
    [record] = steps.ended
    assert (record.exit_code, record.outputs) == (1, gate.outputs())
    assert reported == [gate]
    assert "error: the image build failed: no base" in capsys.readouterr().err


def test_the_pipeline_stops_at_the_first_failing_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    argv = ["--model", str(HOUSING), "--dest", str(tmp_path / "model"), "--image-name", "x"]
    assert pipeline.main([*argv, "--dockerfile", str(tmp_path / "missing" / "Dockerfile")]) == 1
    summary = (tmp_path / "summary").read_text(encoding="utf-8")
    assert "### ✅ Fetched model `housing` version `1`" in summary
    assert "## modelship: ❌ not delivered: stopped at **lint**" in summary
    assert "━━━ build ━━━" not in capsys.readouterr().out
    document = json.loads((tmp_path / pipeline.RESULT_FILENAME).read_text(encoding="utf-8"))
    assert (document["verdict"], document["stopped_at"]) == ("failed", "lint")
    assert [step["verdict"] for step in document["steps"]] == ["passed", "failed", *["not-run"] * 4]
    assert document["steps"][0]["outputs"]["model-dir"] == str((tmp_path / "model").resolve())


@pytest.mark.parametrize(
    ("given", "steps"),
    [
        pytest.param([], ["fetch", "lint", "build", "scan", "smoke-test", "push"], id="one-platform"),
        pytest.param(
            ["--platforms", "linux/amd64,linux/arm64", "--no-push"],
            ["fetch", "lint", "build", "scan", "scan-arm64", "smoke-test", "smoke-test-arm64"],
            id="two-platforms-no-push",
        ),
    ],
)
def test_the_planned_steps_have_a_scan_and_a_smoke_test_per_platform(
    given: list[str], steps: list[str]
) -> None:
    assert pipeline.planned_steps(pipeline.parse_args(["--image-name", "h", *given])) == steps


def test_the_build_is_asked_for_the_user_s_image_and_variant_in_the_build_s_own_words() -> None:
    argv = ["--image-name", "h", "--quantize", "int8", "--max-rel-error", "0.05", "--tags", "a,b"]
    args = pipeline.parse_args([*argv, "--git-sha", "abc", "--no-cache-from"])
    request = build.request_from(args, Path("/w/model"))
    assert (request.model_dir, request.image_name, request.tags) == (Path("/w/model"), "h", "a,b")
    assert (request.quantize, request.max_abs_error, request.max_rel_error) == ("int8", "0.01", "0.05")
    assert (request.git_sha, request.no_cache_from) == ("abc", True)
    assert build.request_from(pipeline.parse_args(["--image-name", "h"]), Path("m")).quantize == ""


def test_lint_and_the_provenance_name_the_dockerfile_the_build_uses(tmp_path: Path) -> None:
    args = pipeline.parse_args(["--image-name", "h", "--project-dir", str(tmp_path)])
    assert pipeline.dockerfile(args) == tmp_path / "Dockerfile"
    chosen = pipeline.parse_args(["--image-name", "h", "--dockerfile", "serving.Dockerfile"])
    assert pipeline.dockerfile(chosen) == Path("serving.Dockerfile")


@pytest.mark.parametrize(
    ("given", "name", "version"),
    [
        pytest.param(["--model-name", "prices", "--model-version", "7"], "prices", "7", id="named"),
        pytest.param([], None, None, id="from-modelship-json"),
    ],
)
def test_model_name_and_version_name_a_local_model(
    tmp_path: Path, given: list[str], name: str | None, version: str | None
) -> None:
    args = pipeline.parse_args(["--model", str(HOUSING), "--image-name", "h", *given])
    request = check_request(args)
    assert (request.source, request.model, request.name, request.version) == (
        "local",
        str(HOUSING),
        name,
        version,
    )
    assert request.dest == Path(".modelship/model")


@pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")
def test_a_registry_a_cloud_and_a_version_select_an_azure_ml_model() -> None:
    scope = ["--model-registry", "shared", "--azure-cloud", "AzureChinaCloud"]
    args = pipeline.parse_args(
        [
            "--source",
            "azureml",
            *scope,
            "--model-name",
            "housing",
            "--model-version",
            "3",
            "--image-name",
            "h",
        ]
    )
    ref = check_request(args).azure
    assert ref is not None
    assert (ref.name, ref.version, ref.registry, ref.cloud) == ("housing", "3", "shared", "AzureChinaCloud")


def test_the_fetch_limits_reach_the_fetch_step(tmp_path: Path) -> None:
    argv = ["--model", str(HOUSING), "--dest", str(tmp_path / "model"), "--image-name", "h"]
    request = check_request(pipeline.parse_args([*argv, "--max-size-mb", "0.001", "--timeout", "60"]))
    assert (request.limits.max_bytes, request.limits.timeout) == (1048, 60.0)
    assert pipeline.main([*argv, "--max-size-mb", "0.001"]) == 1
    assert not (tmp_path / "model" / "model.onnx").exists()


# check_cloud reads azure-ai-ml's cloud table; importing azure-ai-ml warns about its use of marshmallow.
@pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")
@pytest.mark.parametrize(
    ("flags", "warned"),
    [
        pytest.param(
            ("--azure-subscription-id", "--azure-resource-group", "--azure-workspace"), [], id="new"
        ),
        pytest.param(
            ("--subscription-id", "--resource-group", "--workspace"),
            ["subscription-id", "resource-group", "workspace"],
            id="deprecated",
        ),
    ],
)
def test_the_workspace_s_coordinates_reach_the_fetch_step_under_the_azure_names(
    flags: tuple[str, str, str], warned: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    coordinates = [
        part for flag, value in zip(flags, ("sub", "rg", "ws"), strict=True) for part in (flag, value)
    ]
    args = pipeline.parse_args(
        ["--source", "azureml", *coordinates, "--model-name", "housing", "--image-name", "h"]
    )
    ref = check_request(args).azure
    assert ref is not None
    assert (ref.subscription_id, ref.resource_group, ref.workspace, ref.name) == (
        "sub",
        "rg",
        "ws",
        "housing",
    )
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "deprecated" in line] == [
        f"warning: input '{old}' is deprecated and will be removed; use 'azure-{old}' instead"
        for old in warned
    ]


def scanned(verdict: str = "pass") -> pipeline.StepResult:
    """A scan step that ran grype and passed."""
    outputs = {"verdict": verdict, "grype-version": GRYPE, "database": "vulnerability database v6.0.2"}
    return pipeline.StepResult("scan", 0, 2.0, outputs)


def test_the_json_result_has_every_planned_step_the_scanner_and_the_outputs() -> None:
    results = [
        pipeline.StepResult("fetch", 0, 0.5, {"model-dir": "/w/model"}),
        scanned(),
        pipeline.StepResult("smoke-test", 1, 1.25),
    ]
    ran = pipeline.outcome(results, ["fetch", "scan", "smoke-test", "push"])
    document = dataclasses.replace(ran, outputs={"sbom-spdx": "s.json"}).to_document()
    assert document == {
        "verdict": "failed",
        "stopped_at": "smoke-test",
        "seconds": 3.75,
        "scanner": f"grype {GRYPE}; vulnerability database v6.0.2",
        "steps": [
            {
                "name": "fetch",
                "verdict": "passed",
                "exit_code": 0,
                "seconds": 0.5,
                "outputs": {"model-dir": "/w/model"},
            },
            {
                "name": "scan",
                "verdict": "passed",
                "exit_code": 0,
                "seconds": 2.0,
                "outputs": scanned().outputs,
            },
            {"name": "smoke-test", "verdict": "failed", "exit_code": 1, "seconds": 1.25, "outputs": {}},
            {"name": "push", "verdict": "not-run", "exit_code": None, "seconds": None, "outputs": {}},
        ],
        "outputs": {"sbom-spdx": "s.json"},
    }
    assert json.loads(json.dumps(document)) == document


def test_a_skipped_scan_is_skipped_in_the_json_result_and_names_no_scanner() -> None:
    results = [pipeline.StepResult("scan", 0, 0.1, {"verdict": "skipped", "grype-version": ""})]
    document = pipeline.outcome(results, ["scan"]).to_document()
    assert (document["verdict"], document["stopped_at"], document["scanner"]) == ("passed", None, None)
    assert document["steps"][0]["verdict"] == "skipped"


def test_the_pipeline_writes_its_json_result_beside_dest_or_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    missing = ["--model", str(tmp_path / "missing.onnx"), "--image-name", "x"]
    assert pipeline.main([*missing, "--dest", str(tmp_path / "work" / "model")]) == 1
    beside_dest = tmp_path / "work" / pipeline.RESULT_FILENAME
    assert gha.read_outputs(tmp_path / "outputs") == {"result-json": str(beside_dest)}
    document = json.loads(beside_dest.read_text(encoding="utf-8"))
    assert (document["verdict"], document["stopped_at"], document["steps"][0]["outputs"]) == (
        "failed",
        "fetch",
        {},
    )
    chosen = tmp_path / "elsewhere" / "result.json"
    assert pipeline.main([*missing, "--result-json", str(chosen)]) == 1
    assert json.loads(chosen.read_text(encoding="utf-8"))["stopped_at"] == "fetch"


def test_an_unwritable_result_path_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    argv = ["--model", str(tmp_path / "missing.onnx"), "--image-name", "x"]
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main([*argv, "--result-json", str(tmp_path / "a-file" / "result.json")])
    assert exit_info.value.code == 1
    assert "give --result-json a file in a folder you can write to" in capsys.readouterr().err


def test_a_push_that_cannot_be_asked_for_is_a_failed_step_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts import fetch
    from scripts.image_build import BuildResult, ImageBuild

    args = pipeline.parse_args(
        ["--model", str(HOUSING), "--dest", str(tmp_path / "model"), "--image-name", "h"]
    )
    fetched = fetch.run(check_request(args))
    plan = build.plan(build.request_from(args, fetched.model_dir))
    built = build.Built(plan, (ImageBuild(plan, BuildResult("sha256:" + "1" * 64, 1)),))
    monkeypatch.setenv("REGISTRY_PASSWORD", "a-secret")
    steps = pipeline.Steps()
    with pytest.raises(pipeline.Stopped):
        steps.run("push", functools.partial(pipeline.push_of, args, built), lambda _: None)
    assert [(record.name, record.exit_code) for record in steps.ended] == [("push", 1)]
    assert "REGISTRY_PASSWORD is set but --username is empty" in capsys.readouterr().err
