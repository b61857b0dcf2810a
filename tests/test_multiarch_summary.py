"""The run summary of a multi-platform build: a row per platform with size, smoke result and digest."""

from __future__ import annotations

import json
from typing import Any

from scripts import summary

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
