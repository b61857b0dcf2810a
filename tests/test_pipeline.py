"""The local pipeline's chaining and report (the steps themselves are tested on their own)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from scripts import gha, pipeline, scanners

GRYPE = scanners.pinned_version("grype")


def writes_outputs(**outputs: str) -> pipeline.StepMain:
    """A step main that writes outputs and succeeds, recording the argv it got."""

    def step_main(argv: list[str] | None) -> int:
        for name, value in outputs.items():
            gha.set_output(name, value)
        return 0

    return step_main


def dies(argv: list[str] | None) -> int:
    gha.die("the model is not valid ONNX")


def test_run_step_collects_outputs_and_restores_github_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "job-output"))
    result = pipeline.run_step("build", writes_outputs(image="a:1", tags="a:1\na:latest"), [], tmp_path)
    assert result.ok
    assert result.outputs == {"image": "a:1", "tags": "a:1\na:latest"}
    assert os.environ["GITHUB_OUTPUT"] == str(tmp_path / "job-output")
    assert not (tmp_path / "job-output").exists()


def test_run_step_turns_a_die_into_a_failed_result(tmp_path: Path) -> None:
    result = pipeline.run_step("fetch", dies, [], tmp_path)
    assert (result.ok, result.exit_code) == (False, 1)


def test_the_pipeline_stops_at_the_first_failing_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    called: list[str] = []

    def fake_stages(args: object) -> list[pipeline.Stage]:
        def recording(name: str, step_main: pipeline.StepMain) -> pipeline.Stage:
            def make_argv(outputs: pipeline.Outputs) -> list[str]:
                called.append(name)
                return []

            return (name, step_main, make_argv)

        return [
            recording("fetch", writes_outputs(**{"model-dir": "m"})),
            recording("lint", dies),
            recording("build", writes_outputs()),
        ]

    monkeypatch.setattr(pipeline, "stages", fake_stages)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    assert pipeline.main(["--image-name", "x", "--dest", str(tmp_path / "model")]) == 1
    assert called == ["fetch", "lint"]
    assert "## modelship: ❌ not delivered: stopped at **lint**" in (tmp_path / "summary").read_text(
        encoding="utf-8"
    )
    document = json.loads((tmp_path / pipeline.RESULT_FILENAME).read_text(encoding="utf-8"))
    assert (document["verdict"], document["stopped_at"]) == ("failed", "lint")
    assert [step["verdict"] for step in document["steps"]] == ["passed", "failed", "not-run"]


def test_the_build_and_smoke_test_get_the_variant() -> None:
    args = pipeline.parse_args(
        ["--image-name", "h", "--model", "m", "--quantize", "int8", "--max-rel-error", "0.05", "--no-push"]
    )
    steps = {name: make_argv for name, _, make_argv in pipeline.stages(args)}
    outputs = {
        "fetch": {"model-dir": "/w/model"},
        "build": {"image": "h:1-int8", "model-dir": "/w/model-int8"},
    }
    build_argv = steps["build"](outputs)
    assert build_argv[build_argv.index("--quantize") + 1] == "int8"
    assert build_argv[build_argv.index("--max-rel-error") + 1] == "0.05"
    smoke_argv = steps["smoke-test"](outputs)
    assert smoke_argv[smoke_argv.index("--model-dir") + 1] == "/w/model-int8"


def test_an_fp32_build_is_asked_for_no_variant() -> None:
    args = pipeline.parse_args(["--image-name", "h", "--model", "m", "--no-push"])
    steps = {name: make_argv for name, _, make_argv in pipeline.stages(args)}
    outputs = {"fetch": {"model-dir": "/w/model"}, "build": {"image": "h:1"}}
    assert "--quantize" not in steps["build"](outputs)
    smoke_argv = steps["smoke-test"](outputs)
    assert smoke_argv[smoke_argv.index("--model-dir") + 1] == "/w/model"


@pytest.mark.parametrize(
    ("given", "name", "version"),
    [
        pytest.param(["--model-name", "prices", "--model-version", "7"], "prices", "7", id="named"),
        pytest.param([], "housing", "1", id="from-modelship-json"),
    ],
)
def test_model_name_and_version_name_a_local_model(
    tmp_path: Path, given: list[str], name: str, version: str
) -> None:
    from scripts import fetch

    args = pipeline.parse_args(
        [
            "--source",
            "local",
            "--model",
            "examples/housing",
            "--dest",
            str(tmp_path / "model"),
            "--image-name",
            "h",
            *given,
        ]
    )
    result = pipeline.run_step("fetch", fetch.main, pipeline.fetch_argv(args), tmp_path)
    assert result.ok
    assert (result.outputs["model-name"], result.outputs["model-version"]) == (name, version)


def test_model_name_and_version_select_an_azure_ml_model() -> None:
    args = pipeline.parse_args(
        ["--source", "azureml", "--model-name", "housing", "--model-version", "3", "--image-name", "h"]
    )
    argv = pipeline.fetch_argv(args)
    assert argv[argv.index("--model-name") + 1] == "housing"
    assert argv[argv.index("--model-version") + 1] == "3"


def test_the_fetch_limits_reach_the_fetch_step(tmp_path: Path) -> None:
    from scripts import fetch

    argv = ["--source", "local", "--model", "examples/housing", "--dest", str(tmp_path / "model")]
    args = pipeline.parse_args([*argv, "--image-name", "h", "--max-size-mb", "0.001", "--timeout", "60"])
    result = pipeline.run_step("fetch", fetch.main, pipeline.fetch_argv(args), tmp_path)
    assert not result.ok
    assert not (tmp_path / "model" / "model.onnx").exists()
    fetch_argv = pipeline.fetch_argv(args)
    assert fetch_argv[fetch_argv.index("--max-size-mb") + 1] == "0.001"
    assert fetch_argv[fetch_argv.index("--timeout") + 1] == "60"


def test_a_registry_and_a_cloud_reach_the_fetch_step() -> None:
    scope = ["--model-registry", "shared", "--azure-cloud", "AzureChinaCloud"]
    args = pipeline.parse_args(
        ["--source", "azureml", *scope, "--model-name", "housing", "--image-name", "h"]
    )
    argv = pipeline.fetch_argv(args)
    assert argv[argv.index("--model-registry") + 1] == "shared"
    assert argv[argv.index("--azure-cloud") + 1] == "AzureChinaCloud"


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
    from scripts import fetch, fetch_request

    coordinates = [
        part for flag, value in zip(flags, ("sub", "rg", "ws"), strict=True) for part in (flag, value)
    ]
    args = pipeline.parse_args(
        ["--source", "azureml", *coordinates, "--model-name", "housing", "--image-name", "h"]
    )
    argv = pipeline.fetch_argv(args)
    assert [
        argv[argv.index(f"--azure-{name}") + 1] for name in ("subscription-id", "resource-group", "workspace")
    ] == [
        "sub",
        "rg",
        "ws",
    ]
    ref = fetch_request.check_request(fetch.build_parser().parse_args(argv)).azure
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
    def fake_stages(args: object) -> list[pipeline.Stage]:
        return [("fetch", writes_outputs(**{"model-dir": "m"}), lambda _: [])]

    monkeypatch.setattr(pipeline, "stages", fake_stages)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    assert pipeline.main(["--image-name", "x", "--dest", str(tmp_path / "work" / "model")]) == 0
    beside_dest = tmp_path / "work" / pipeline.RESULT_FILENAME
    assert gha.read_outputs(tmp_path / "outputs") == {"result-json": str(beside_dest)}
    document = json.loads(beside_dest.read_text(encoding="utf-8"))
    assert (document["verdict"], document["steps"][0]["outputs"]) == ("passed", {"model-dir": "m"})
    chosen = tmp_path / "elsewhere" / "result.json"
    assert pipeline.main(["--image-name", "x", "--result-json", str(chosen)]) == 0
    assert json.loads(chosen.read_text(encoding="utf-8"))["verdict"] == "passed"


def test_an_unwritable_result_path_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pipeline, "stages", lambda args: [])
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(["--image-name", "x", "--result-json", str(tmp_path / "a-file" / "result.json")])
    assert exit_info.value.code == 1
    assert "give --result-json a file in a folder you can write to" in capsys.readouterr().err
