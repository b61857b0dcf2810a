"""The multi-arch wiring of the reusable workflow and the root action: platforms reach the build, the
other platform's image is smoke-tested, the push gets the platform images, QEMU only when asked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from scripts import platforms, wheelhouse

from .workflow_files import PROJECT_DIR, load, run_step_script

DELIVER = PROJECT_DIR / ".github/workflows/deliver.yml"


def steps_of(kind: str) -> dict[str, dict[str, Any]]:
    """The pipeline's steps by id: the reusable workflow's pipeline job, or the root action's."""
    if kind == "workflow":
        steps = load(PROJECT_DIR / ".github/workflows/deliver.yml")["jobs"]["pipeline"]["steps"]
    else:
        steps = load(PROJECT_DIR / "action.yml")["runs"]["steps"]
    return {step.get("id", step["name"]): step for step in steps}


def inputs_platforms(value: str) -> bool:
    """The build's platforms: the input itself, or (a workflow leg) its own platform, else the input."""
    return value.endswith("inputs.platforms }}")


@pytest.mark.parametrize("kind", ["workflow", "action"])
def test_platforms_flow_from_build_to_smoke_test_and_push(kind: str) -> None:
    steps = steps_of(kind)
    # a native leg of the workflow builds its own platform (test_each_leg_runs_on_...)
    assert inputs_platforms(steps["build"]["with"]["platforms"])
    second = steps["smoke-test-second-platform"]
    assert "contains(steps.build.outputs.platforms, ',')" in second["if"]
    assert second["with"]["image"] == "${{ fromJSON(steps.build.outputs.platform-images)[1].image-id }}"
    assert second["with"]["model-dir"] == steps["smoke-test"]["with"]["model-dir"]
    assert steps["push"]["with"]["platform-images"] == "${{ steps.build.outputs.platform-images }}"
    order = list(steps)
    assert order.index("smoke-test") < order.index("smoke-test-second-platform") < order.index("push")


@pytest.mark.parametrize("kind", ["workflow", "action"])
def test_the_second_platform_s_image_is_scanned_as_the_first_with_its_own_reports(kind: str) -> None:
    steps = steps_of(kind)
    first, second = steps["scan"], steps["scan-second-platform"]
    assert "contains(steps.build.outputs.platforms, ',')" in second["if"]
    assert second["uses"] == first["uses"] == "$/actions/scan"
    assert second["with"]["image"] == "${{ fromJSON(steps.build.outputs.platform-images)[1].ref }}"
    shared = ("severity-cutoff", "only-fixed", "config", "skip", "grype-version")
    assert {name: second["with"][name] for name in shared} == {name: first["with"][name] for name in shared}
    assert second["with"]["sbom-dir"] != first["with"].get("sbom-dir", ".modelship/sbom")
    assert second["with"]["sarif"] != first["with"].get("sarif", ".modelship/sarif/grype.sarif")
    order = list(steps)
    assert order.index("scan") < order.index("scan-second-platform") < order.index("push")


def test_workflow_sets_up_qemu_only_for_several_platforms() -> None:
    workflow = load(PROJECT_DIR / ".github/workflows/deliver.yml")
    steps = workflow["jobs"]["pipeline"]["steps"]
    names = [step["name"] for step in steps]
    qemu = steps[names.index("Set up QEMU for the other architecture")]
    # only in the one leg that builds both platforms (arm64-runner: emulate)
    assert qemu["if"] == "contains(inputs.platforms, ',') && matrix.arch == ''"
    assert "qemu-user-static" in qemu["run"]
    assert "uses" not in qemu  # Ubuntu's package, no third-party action
    assert names.index("Set up QEMU for the other architecture") < names.index("Build")
    assert workflow["on"]["workflow_call"]["inputs"]["platforms"]["default"] == ""


def test_build_and_push_actions_take_the_multiarch_inputs() -> None:
    build = load(PROJECT_DIR / "actions/build/action.yml")
    push = load(PROJECT_DIR / "actions/push/action.yml")
    assert "platforms" in build["inputs"]
    assert {"platforms", "platform-images", "arm64-size-ratio"} <= set(build["outputs"])
    assert "platform-images" in push["inputs"]
    assert {"platform-digests", "resolved-platforms"} <= set(push["outputs"])
    build_env = next(step for step in build["runs"]["steps"] if step.get("id") == "build")["env"]
    push_env = next(step for step in push["runs"]["steps"] if step.get("id") == "push")["env"]
    assert build_env["INPUT_PLATFORMS"] == "${{ inputs.platforms }}"
    assert push_env["INPUT_PLATFORM_IMAGES"] == "${{ inputs.platform-images }}"


@pytest.mark.parametrize(
    ("platforms_input", "arm64_runner", "legs"),
    [
        pytest.param("linux/amd64,linux/arm64", "native", '["amd64","arm64"]', id="native-two-legs"),
        pytest.param("linux/amd64,linux/arm64", "emulate", '[""]', id="emulate-one-leg"),
        pytest.param("", "native", '[""]', id="runner-s-platform-one-leg"),
        pytest.param("linux/arm64", "native", '[""]', id="one-platform-one-leg"),
    ],
)
def test_the_plan_names_the_legs(platforms_input: str, arm64_runner: str, legs: str, tmp_path: Path) -> None:
    [step] = load(DELIVER)["jobs"]["plan"]["steps"]
    code, output, outputs = run_step_script(
        step, {"PLATFORMS": platforms_input, "ARM64_RUNNER": arm64_runner}, tmp_path
    )
    assert code == 0, output
    assert outputs["legs"] == legs
    assert outputs["call"].startswith("modelship-")


def test_an_unknown_arm64_runner_is_refused_with_the_choices(tmp_path: Path) -> None:
    [step] = load(DELIVER)["jobs"]["plan"]["steps"]
    code, output, _ = run_step_script(
        step, {"PLATFORMS": "linux/amd64,linux/arm64", "ARM64_RUNNER": "qemu"}, tmp_path
    )
    assert code == 1
    assert "::error::input 'arm64-runner' is 'qemu'; use native" in output
    assert "or emulate" in output


def test_each_leg_runs_on_its_architecture_s_runner_and_the_merge_waits_for_all() -> None:
    workflow = load(DELIVER)
    inputs = workflow["on"]["workflow_call"]["inputs"]
    assert inputs["arm64-runner"]["default"] == "native"
    jobs = workflow["jobs"]
    pipeline = jobs["pipeline"]
    assert pipeline["needs"] == "plan"
    assert pipeline["strategy"] == {
        "fail-fast": False,
        "matrix": {"arch": "${{ fromJSON(needs.plan.outputs.legs) }}"},
    }
    assert pipeline["runs-on"] == "${{ matrix.arch == 'arm64' && 'ubuntu-24.04-arm' || inputs.runs-on }}"
    steps = {step.get("id", step["name"]): step for step in pipeline["steps"]}
    assert (
        steps["build"]["with"]["platforms"]
        == "${{ matrix.arch && format('linux/{0}', matrix.arch) || inputs.platforms }}"
    )
    assert steps["push"]["with"]["tags"] == "${{ steps.leg.outputs.tags || steps.build.outputs.tags }}"
    merge = jobs["merge"]
    assert merge["needs"] == ["plan", "pipeline"]
    assert "needs.plan.outputs.legs != '[\"\"]'" in merge["if"]
    assert merge["permissions"] == {"packages": "write"}
    [write] = merge["steps"]
    assert write["uses"] == "$/actions/push"
    assert write["with"]["merge-platforms"] == "${{ inputs.platforms }}"
    assert write["with"]["tags"] == "${{ needs.pipeline.outputs.tags }}"
    # the SARIF of every leg; the attestation, summary and outputs see the merge
    assert jobs["sarif"]["strategy"]["matrix"] == pipeline["strategy"]["matrix"]
    assert "merge" in jobs["attest"]["needs"]
    assert "merge" in jobs["summary"]["needs"]
    outputs = workflow["on"]["workflow_call"]["outputs"]
    assert "jobs.merge.outputs.digest" in outputs["digest"]["value"]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_a_leg_pushes_under_the_tag_the_merge_reads(arch: str, tmp_path: Path) -> None:
    steps = {step.get("id", step["name"]): step for step in load(DELIVER)["jobs"]["pipeline"]["steps"]}
    tags = "ghcr.io/o/housing:3\nghcr.io/o/housing:latest"
    code, output, outputs = run_step_script(steps["leg"], {"TAGS": tags, "ARCH": arch}, tmp_path)
    assert code == 0, output
    # the ref scripts.push_index reads that leg's digest from
    assert outputs["tags"] == "ghcr.io/o/housing:3" + platforms.tag_suffix(platforms.by_architecture(arch))


@pytest.mark.parametrize(
    ("platforms_input", "other"),
    [
        pytest.param("", None, id="runner-s-platform"),
        pytest.param("linux/amd64,linux/arm64", "arm64", id="two-platforms"),
        pytest.param("linux/s390x", None, id="bad-platform-left-to-the-build"),
    ],
)
def test_the_build_caches_each_platform_s_wheelhouse(
    platforms_input: str, other: str | None, tmp_path: Path
) -> None:
    build = load(PROJECT_DIR / "actions/build/action.yml")
    steps = {step.get("id", step["name"]): step for step in build["runs"]["steps"]}
    env = {
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "INPUT_PLATFORMS": platforms_input,
        "GITHUB_ACTION_PATH": str(PROJECT_DIR / "actions" / "build"),
    }
    code, output, outputs = run_step_script(steps["wheelhouse"], env, tmp_path)
    assert code == 0, output
    assert outputs["path"] == str(PROJECT_DIR / ".wheelhouse")
    host = platforms.by_architecture(os.uname().machine)
    assert outputs["key"].endswith(wheelhouse.requirements_digest(wheelhouse.REQUIREMENTS))
    if other is None or platforms.by_architecture(other) == host:
        assert "other-path" not in outputs
        return
    platform = platforms.by_architecture(other)
    assert outputs["other-path"] == str(platforms.wheelhouse_for(PROJECT_DIR / ".wheelhouse", platform, host))
    digest = wheelhouse.requirements_digest(wheelhouse.REQUIREMENTS, platform.wheel_machine)
    assert outputs["other-key"] == f"modelship-wheelhouse-Linux-{other}-{digest}"
    assert outputs["other-key"] != outputs["key"]
    restore = next(
        step for step in build["runs"]["steps"] if step["name"] == "Restore the other platform's wheelhouse"
    )
    assert restore["with"] == {
        "path": "${{ steps.wheelhouse.outputs.other-path }}",
        "key": "${{ steps.wheelhouse.outputs.other-key }}",
    }
