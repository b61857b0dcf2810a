"""The multi-arch wiring of the reusable workflow and the root action: platforms reach the build, the
other platform's image is smoke-tested, the push gets the platform images, QEMU only when asked."""

from __future__ import annotations

from typing import Any

import pytest

from .workflow_files import PROJECT_DIR, load


def steps_of(kind: str) -> dict[str, dict[str, Any]]:
    """The pipeline's steps by id: the reusable workflow's pipeline job, or the root action's."""
    if kind == "workflow":
        steps = load(PROJECT_DIR / ".github/workflows/deliver.yml")["jobs"]["pipeline"]["steps"]
    else:
        steps = load(PROJECT_DIR / "action.yml")["runs"]["steps"]
    return {step.get("id", step["name"]): step for step in steps}


@pytest.mark.parametrize("kind", ["workflow", "action"])
def test_platforms_flow_from_build_to_smoke_test_and_push(kind: str) -> None:
    steps = steps_of(kind)
    assert steps["build"]["with"]["platforms"] == "${{ inputs.platforms }}"
    second = steps["smoke-test-second-platform"]
    assert "contains(steps.build.outputs.platforms, ',')" in second["if"]
    assert second["with"]["image"] == "${{ fromJSON(steps.build.outputs.platform-images)[1].image-id }}"
    assert second["with"]["model-dir"] == steps["smoke-test"]["with"]["model-dir"]
    assert steps["push"]["with"]["platform-images"] == "${{ steps.build.outputs.platform-images }}"
    order = list(steps)
    assert order.index("smoke-test") < order.index("smoke-test-second-platform") < order.index("push")


def test_workflow_sets_up_qemu_only_for_several_platforms() -> None:
    workflow = load(PROJECT_DIR / ".github/workflows/deliver.yml")
    steps = workflow["jobs"]["pipeline"]["steps"]
    names = [step["name"] for step in steps]
    qemu = steps[names.index("Set up QEMU for the other architecture")]
    assert qemu["if"] == "contains(inputs.platforms, ',')"
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
