"""The run summary of a multi-platform build: a row per platform with size, smoke result and digest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts import summary
from tests.steps import run_step

IMAGES = [
    {"platform": "linux/amd64", "image-id": "sha256:a", "ref": "r/m:1-amd64", "size-bytes": 240_200_000},
    {"platform": "linux/arm64", "image-id": "sha256:b", "ref": "r/m:1-arm64", "size-bytes": 260_800_000},
]
DIGESTS = {"linux/amd64": "sha256:" + "1" * 64, "linux/arm64": "sha256:" + "2" * 64}


def step(outcome: str, **outputs: str) -> dict[str, Any]:
    return {"outcome": outcome, "conclusion": outcome, "outputs": outputs}


def github_context(second: str, push: str) -> dict[str, Any]:
    build = {
        "image": "r/m:1-amd64",
        "platforms": "linux/amd64,linux/arm64",
        "platform-images": json.dumps(IMAGES),
    }
    pushed = {"digest": "sha256:" + "9" * 64, "image-ref": "r/m@sha256:" + "9" * 64}
    pushed |= {"platform-digests": json.dumps(DIGESTS), "resolved-platforms": "linux/amd64,linux/arm64"}
    return {
        "fetch": step("success"),
        "build": step("success", **build, **{"arm64-size-ratio": "1.086"}),
        "scan": step("success"),
        "smoke-test": step("success", platform="linux/amd64", emulated="false"),
        summary.SECOND_PLATFORM_STEP: step(second, platform="linux/arm64", emulated="true"),
        "push": step(push, **pushed) if push else {},
    }


def test_github_steps_name_the_second_platforms_smoke_test() -> None:
    outcome = summary.from_github_steps(github_context("success", "success"))
    names = [s.name for s in outcome.steps]
    assert names == ["fetch", "lint", "build", "scan", "smoke-test", "smoke-test-arm64", "push"]
    assert outcome.passed


def test_a_row_per_platform_with_size_smoke_result_and_digest() -> None:
    text = summary.render(summary.from_github_steps(github_context("success", "success")))
    assert f"| linux/amd64 | 240.2 MB | ✅ passed | `{DIGESTS['linux/amd64']}` |" in text
    assert f"| linux/arm64 | 260.8 MB | ✅ passed (emulated) | `{DIGESTS['linux/arm64']}` |" in text
    assert "arm64/amd64 image size: 1.086x" in text
    assert "The tag resolves to linux/amd64,linux/arm64." in text


def test_a_failed_emulated_smoke_test_stops_the_run_before_the_push() -> None:
    outcome = summary.from_github_steps(github_context("failure", ""))
    text = summary.render(outcome)
    assert outcome.stopped_at == "smoke-test-arm64"
    assert "| linux/arm64 | 260.8 MB | ❌ failed (emulated) | not pushed |" in text
    assert "resolves to" not in text


def test_a_single_platform_run_has_no_platform_rows() -> None:
    context = github_context("success", "success")
    del context[summary.SECOND_PLATFORM_STEP]
    context["build"] = step("success", image="r/m:1")
    assert "| platform |" not in summary.render(summary.from_github_steps(context))


def test_the_second_platform_s_steps_skipped_by_a_single_platform_build_have_no_rows() -> None:
    """GitHub lists a step its `if` skipped, outcome 'skipped'; one platform has no second's rows."""
    context = github_context("skipped", "success")
    context[summary.SECOND_PLATFORM_SCAN] = step("skipped")
    context["build"] = step("success", image="r/m:1")
    outcome = summary.from_github_steps(context)
    assert [each.name for each in outcome.steps] == list(summary.STEPS)
    assert outcome.passed


def test_the_second_platform_s_steps_after_a_failed_scan_are_not_run_rows_named_by_it() -> None:
    context = github_context("skipped", "")
    context["scan"] = step("failure", verdict="fail")
    context[summary.SECOND_PLATFORM_SCAN] = step("skipped")
    outcome = summary.from_github_steps(context)
    verdicts = {each.name: each.verdict for each in outcome.steps}
    assert (verdicts["scan"], verdicts["scan-arm64"], verdicts["smoke-test-arm64"]) == (
        "failed",
        "not-run",
        "not-run",
    )
    assert outcome.stopped_at == "scan"


LEG_RESULT_CONTEXT = {
    "fetch": step("success"),
    "build": step("success", image="r/m:1"),
    "scan": step("success"),
    "smoke-test": step("success", platform="linux/arm64", emulated="false"),
    "push": step("success", digest="sha256:" + "2" * 64, **{"image-ref": "r/m@sha256:" + "2" * 64}),
}
INDEX = "sha256:" + "7" * 64


def legs_needs(merge: str) -> dict[str, Any]:
    """The summary job's needs after native legs: the plan named two, the merge ran (or not)."""
    merged = {"digest": INDEX, "image-ref": f"r/m@{INDEX}"} if merge == "success" else {}
    return {
        "plan": {"result": "success", "outputs": {"legs": '["amd64","arm64"]'}},
        "pipeline": {"result": "success"},
        "merge": {"result": merge, "outputs": merged},
        "sarif": {"result": "success"},
        "attest": {"result": "success" if merge == "success" else "skipped"},
    }


def render_with_needs(needs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Record a leg's result, then render it as the reusable workflow's summary job does."""
    recorded = run_step(
        summary.main, ["--github-steps", json.dumps(LEG_RESULT_CONTEXT), "--record"], tmp_path, monkeypatch
    )
    assert recorded.code == 0, recorded.err
    rendered = run_step(
        summary.main,
        ["--result", recorded.outputs["result"], "--jobs", json.dumps(needs)],
        tmp_path,
        monkeypatch,
    )
    assert rendered.code == 0, rendered.err
    return rendered.summary


def test_with_native_legs_the_delivery_is_the_merged_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = render_with_needs(legs_needs("success"), tmp_path, monkeypatch)
    assert f"## modelship: ✅ delivered `r/m@{INDEX}`" in text
    assert "| OCI index | ✅ passed | | every tag: one index of the legs' images |" in text


def test_with_native_legs_a_failed_merge_is_no_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = render_with_needs(legs_needs("failure"), tmp_path, monkeypatch)
    assert "## modelship: ❌ not delivered" in text
    assert "sha256:" + "2" * 64 + "`" not in text.splitlines()[0], "a leg's push is not the delivery"
    assert "| OCI index | ❌ failed |" in text


def test_without_legs_there_is_no_index_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs = {"plan": {"result": "success", "outputs": {"legs": '[""]'}}, "merge": {"result": "skipped"}}
    text = render_with_needs(needs, tmp_path, monkeypatch)
    assert "## modelship: ✅ delivered `r/m@sha256:" + "2" * 64 in text
    assert "OCI index" not in text


@pytest.mark.parametrize(("outcome", "verdict"), [("success", "✅ passed"), ("failure", "❌ failed")])
def test_the_second_platform_s_scan_has_a_row_of_its_own(outcome: str, verdict: str) -> None:
    context = github_context("success", "success" if outcome == "success" else "")
    context[summary.SECOND_PLATFORM_SCAN] = step(
        outcome, verdict="pass" if outcome == "success" else "fail", total="3"
    )
    result = summary.from_github_steps(context)
    names = [each.name for each in result.steps]
    assert names.index("scan") + 1 == names.index("scan-arm64")
    text = summary.render(result)
    gate = "pass" if outcome == "success" else "fail"
    assert f"| scan-arm64 | {verdict} |  | `{gate}`, 3 vulnerabilities found" in text
    if outcome == "failure":
        assert result.stopped_at == "scan-arm64"
