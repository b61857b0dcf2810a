"""The run summary: one renderer over the steps' outcomes, from the pipeline or GitHub's contexts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts import gha, summary

GRYPE = "9.8.7"  # a made-up version: the pinned one lives in tools/grype-testdb/go.mod only

IMAGE = "127.0.0.1:5000/team/housing"
DIGEST = "sha256:" + "ab" * 32
FETCHED = {"model-name": "housing", "model-version": "1", "sha256": "0123456789abcdef" * 4}
BUILT = {"image": f"{IMAGE}:1", "cache-from": ""}
SCANNED = {
    "verdict": "pass",
    "total": "0",
    "grype-version": GRYPE,
    "database": "vulnerability database v6",
}
SMOKED = {"cold-start-ms": "850", "latency-p50-ms": "3.10", "verdict": "pass"}
PUSHED = {"digest": DIGEST, "image-ref": f"{IMAGE}@{DIGEST}"}


def step(
    name: str, verdict: str = "passed", seconds: float | None = 1.0, outputs: dict[str, str] | None = None
) -> summary.StepOutcome:
    return summary.StepOutcome(name, verdict, seconds, 0 if verdict == "passed" else 1, outputs or {})


def delivered(**changes: Any) -> summary.Outcome:
    """A run that fetched, linted, built, scanned, smoke-tested and pushed, one second each."""
    steps = (
        step("fetch", outputs=FETCHED),
        step("lint"),
        step("build", outputs=BUILT),
        step("scan", outputs=SCANNED),
        step("smoke-test", outputs=SMOKED),
        step("push", outputs=PUSHED),
    )
    fields: dict[str, Any] = {"steps": steps, "outputs": dict(PUSHED), "scanner": f"grype {GRYPE}; db"}
    return summary.Outcome(**{**fields, **changes})


def rows(markdown: str) -> dict[str, list[str]]:
    """The summary table's rows by step, each as its cells."""
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    return {
        cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table)
    }


def test_a_delivered_run_leads_with_the_image_reference_and_shows_each_steps_figures() -> None:
    text = summary.render(delivered())
    assert text.splitlines()[0] == f"## modelship: ✅ delivered `{IMAGE}@{DIGEST}` in 6.0 s"
    table = rows(text)
    assert table["fetch"] == ["✅ passed", "1.0 s", "model `housing` 1, sha256 `0123456789ab`"]
    assert table["build"] == ["✅ passed", "1.0 s", f"`{IMAGE}:1`; layers reused from no pushed image"]
    assert table["scan"] == ["✅ passed", "1.0 s", f"`pass`, 0 vulnerabilities found; grype {GRYPE}; db"]
    assert table["smoke-test"] == ["✅ passed", "1.0 s", "cold start 850 ms, p50 3.10 ms"]
    assert table["push"] == ["✅ passed", "1.0 s", f"{IMAGE}@{DIGEST}"]


@pytest.mark.parametrize(
    ("steps", "head", "expected_rows"),
    [
        pytest.param(
            (step("fetch", seconds=0.5), step("lint", "failed", 0.25), step("build", "not-run", None)),
            "❌ not delivered: stopped at **lint** after 0.8 s",
            {"lint": ["❌ failed", "0.2 s", ""], "build": ["⏭️ not run", "", ""]},
            id="stopped-at-lint",
        ),
        pytest.param(
            (
                step("build", outputs=BUILT),
                step("scan", "skipped", 0.1, {"verdict": "skipped"}),
                step("push", "not-run", None),
            ),
            f"✅ built and tested `{IMAGE}:1` (not pushed) in 1.1 s",
            {
                "scan": ["⚠️ skipped", "0.1 s", "not scanned (skip-scan): no vulnerability verdict"],
                "push": ["⏭️ not run", "", "not pushed"],
            },
            id="skipped-scan-and-no-push",
        ),
        pytest.param(
            (step("fetch", "cancelled", None), step("build", "not-run", None)),
            "❌ not delivered: stopped at **fetch**",
            {"fetch": ["🚫 cancelled", "", ""]},
            id="cancelled",
        ),
        pytest.param(
            (step("fetch", "not-run", None),),
            "❌ not delivered",
            {"fetch": ["⏭️ not run", "", ""]},
            id="nothing-ran",
        ),
    ],
)
def test_the_headline_says_what_became_of_the_run(
    steps: tuple[summary.StepOutcome, ...], head: str, expected_rows: dict[str, list[str]]
) -> None:
    text = summary.render(summary.Outcome(steps))
    assert text.splitlines()[0] == f"## modelship: {head}"
    table = rows(text)
    for name, cells in expected_rows.items():
        assert table[name] == cells


@pytest.mark.parametrize(
    ("verdict", "mark"),
    [pytest.param("pass", "✅", id="passed-gate"), pytest.param("fail", "❌", id="failed-gate")],
)
def test_the_int8_gate_figures_follow_the_table(verdict: str, mark: str) -> None:
    figures = {
        "quantize-verdict": verdict,
        "quantized": "int8",
        "agreement": "0.9500",
        "worst-abs-error": "0.25",
        "worst-rel-error": "0.031",
        "size-ratio": "0.258",
        "latency-ratio": "0.410",
    }
    text = summary.render(summary.Outcome((step("build", outputs={**BUILT, **figures}),)))
    assert text.splitlines()[-1] == (
        f"{mark} **int8 variant**: agreement 95.0%, worst error 0.25 absolute (3.10% relative), "
        "model size 0.258x, in-process latency 0.410x of the fp32 model's"
    )


def test_an_fp32_build_has_no_int8_line() -> None:
    assert "variant" not in summary.render(summary.Outcome((step("build", outputs=BUILT),)))


def test_the_json_result_reads_back_as_the_same_outcome() -> None:
    outcome = delivered()
    document = json.loads(json.dumps(outcome.to_document()))
    assert (document["verdict"], document["stopped_at"], document["seconds"]) == ("passed", None, 6.0)
    assert summary.from_document(document) == outcome


def github_steps(**outcomes: str) -> dict[str, Any]:
    """A `toJSON(steps)` as GitHub writes it, with each named step's outcome and the outputs above."""
    outputs = {"fetch": FETCHED, "build": BUILT, "scan": SCANNED, "smoke-test": SMOKED, "push": PUSHED}
    return {
        name: {
            "outputs": outputs.get(name, {}) if outcome != "skipped" else {},
            "outcome": outcome,
            "conclusion": outcome,
        }
        for name, outcome in outcomes.items()
    }


def test_githubs_steps_context_becomes_the_outcome() -> None:
    context = github_steps(fetch="success", lint="skipped", build="success", scan="success")
    context["smoke-test"] = {"outputs": SMOKED, "outcome": "failure", "conclusion": "failure"}
    context["image"] = {"outputs": {"name": IMAGE}, "outcome": "success", "conclusion": "success"}
    outcome = summary.from_github_steps(context)
    assert [(s.name, s.verdict) for s in outcome.steps] == [
        ("fetch", "passed"),
        ("lint", "not-run"),
        ("build", "passed"),
        ("scan", "passed"),
        ("smoke-test", "failed"),
        ("push", "not-run"),  # never ran: absent from the context
    ]
    assert outcome.scanner == f"grype {GRYPE}; vulnerability database v6"
    assert (outcome.stopped_at, outcome.passed, outcome.outputs) == ("smoke-test", False, {})
    assert all(s.seconds is None for s in outcome.steps)


def test_a_pushed_run_from_githubs_steps_reports_the_digest() -> None:
    steps = github_steps(**{name: "success" for name in summary.STEPS})
    outcome = summary.from_github_steps(steps, {"image-name": IMAGE})
    assert outcome.passed
    assert outcome.outputs == {**PUSHED, "image-name": IMAGE}
    assert summary.render(outcome).startswith(f"## modelship: ✅ delivered `{IMAGE}@{DIGEST}`\n")


def needs(pipeline: str, sarif: str, attest: str) -> dict[str, Any]:
    return {
        job: {"result": result, "outputs": {}}
        for job, result in [("pipeline", pipeline), ("sarif", sarif), ("attest", attest)]
    }


@pytest.mark.parametrize(
    ("jobs", "head", "verify"),
    [
        pytest.param(needs("success", "success", "success"), "✅ delivered", True, id="attested"),
        pytest.param(
            needs("success", "failure", "success"), "✅ delivered", True, id="sarif-failure-does-not-count"
        ),
        pytest.param(
            needs("success", "success", "failure"), "❌ not delivered", False, id="attestation-failed"
        ),
    ],
)
def test_the_reusable_workflows_later_jobs_get_rows_and_the_attestations_a_check(
    jobs: dict[str, Any], head: str, verify: bool
) -> None:
    outcome = delivered(outputs={**PUSHED, "image-name": IMAGE})
    outcome = summary.Outcome(
        outcome.steps, outcome.outputs, outcome.scanner, summary.deliver_jobs(jobs, outcome)
    )
    text = summary.render(outcome, owner="octo")
    assert text.startswith(f"## modelship: {head}")
    table = rows(text)
    assert table["SARIF upload"][2] == f"code-scanning category `modelship-grype/{IMAGE}`"
    assert table["attestations"][0] == summary.MARKS[summary.FROM_GITHUB[jobs["attest"]["result"]]]
    check = f"Check the attestations: `gh attestation verify oci://{IMAGE}@{DIGEST} --owner octo`"
    assert (check in text) is verify


def test_a_pipeline_job_that_failed_outside_its_steps_is_not_delivered() -> None:
    outcome = delivered(outputs={**PUSHED, "image-name": IMAGE})
    jobs = summary.deliver_jobs(needs("failure", "skipped", "skipped"), outcome)
    text = summary.render(summary.Outcome(outcome.steps, outcome.outputs, outcome.scanner, jobs))
    assert text.startswith("## modelship: ❌ not delivered")
    assert rows(text)["pipeline job"] == ["❌ failed", "", "failed outside its steps: see its log"]


@pytest.fixture
def actions_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """$GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY in tmp_path, as in a job."""
    output, step_summary = tmp_path / "output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_REPOSITORY_OWNER", "octo")
    return output, step_summary


def test_the_action_writes_the_summary_from_the_steps_context(
    actions_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, step_summary = actions_files
    monkeypatch.setenv("INPUT_GITHUB_STEPS", json.dumps(github_steps(fetch="success", build="failure")))
    assert summary.main([]) == 0
    assert step_summary.read_text(encoding="utf-8").startswith(
        "## modelship: ❌ not delivered: stopped at **build**"
    )


def test_the_reusable_workflow_records_the_result_and_renders_it_in_the_summary_job(
    actions_files: tuple[Path, Path],
) -> None:
    output, step_summary = actions_files
    steps = json.dumps(github_steps(**{name: "success" for name in summary.STEPS}))
    assert summary.main(["--github-steps", steps, "--image-name", IMAGE, "--record"]) == 0
    assert not step_summary.exists(), "recording writes no summary"
    result = gha.read_outputs(output)["result"]
    assert json.loads(result)["outputs"]["image-name"] == IMAGE
    assert (
        summary.main(["--result", result, "--jobs", json.dumps(needs("success", "success", "success"))]) == 0
    )
    text = step_summary.read_text(encoding="utf-8")
    assert text.startswith(f"## modelship: ✅ delivered `{IMAGE}@{DIGEST}`")
    assert f"`gh attestation verify oci://{IMAGE}@{DIGEST} --owner octo`" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--github-steps", "{not json"], "--github-steps is not JSON", id="not-json"),
        pytest.param(["--result", "[1]"], "--result must be a JSON object, not list", id="not-an-object"),
    ],
)
def test_bad_json_is_a_clean_error_naming_the_input(
    argv: list[str], message: str, actions_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        summary.main(argv)
    assert exit_info.value.code == 1
    assert message in capsys.readouterr().err


def test_bad_json_from_the_action_names_the_action_s_input(
    actions_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_GITHUB_STEPS", "{not json")
    with pytest.raises(SystemExit) as exit_info:
        summary.main([])
    assert exit_info.value.code == 1
    assert "input 'github-steps' is not JSON" in capsys.readouterr().err
