"""The run's outcome and its summary: one renderer for the local pipeline and both YAML front doors.

An `Outcome` is what the pipeline's JSON result holds (`--result-json`): the overall verdict, the
step it stopped at, every planned step's verdict, time and outputs, and the delivered outputs. The
local pipeline builds it from its steps' results; in GitHub Actions it is read from the `steps`
context of the job or the composite action (`toJSON(steps)`). `render` turns it into the run
summary, verdict first.

    python -m scripts.summary --github-steps "$STEPS"            # the summary, from toJSON(steps)
    python -m scripts.summary --github-steps "$STEPS" --record   # the result as output `result`
    python -m scripts.summary --result "$RESULT" --jobs "$NEEDS" # the summary of a recorded result
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scripts import gha

STEPS = ("fetch", "lint", "build", "scan", "smoke-test", "push")
# The step id of the second platform's smoke test in the root action and the reusable workflow.
SECOND_PLATFORM_STEP = "smoke-test-second-platform"
# The step id of the second platform's scan in the root action and the reusable workflow.
SECOND_PLATFORM_SCAN = "scan-second-platform"
# Step verdicts: passed, failed, skipped (passed without doing its work: a scan with skip-scan),
# not-run, cancelled. GitHub's step outcomes and job results map onto them.
FROM_GITHUB = {"success": "passed", "failure": "failed", "cancelled": "cancelled", "skipped": "not-run"}
MARKS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "skipped": "⚠️ skipped",
    "not-run": "⏭️ not run",
    "cancelled": "🚫 cancelled",
}
FAILED = ("failed", "cancelled")


@dataclass(frozen=True)
class StepOutcome:
    """How one step ended; `seconds` and `exit_code` are None when not known (or not run)."""

    name: str
    verdict: str
    seconds: float | None = None
    exit_code: int | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobOutcome:
    """A job of the reusable workflow after the pipeline's (the SARIF upload, the attestations)."""

    name: str
    verdict: str
    detail: str
    required: bool  # a failure means not delivered


@dataclass(frozen=True)
class Outcome:
    """The whole run: each planned step, the pipeline's own outputs, and the later jobs."""

    steps: tuple[StepOutcome, ...]
    outputs: Mapping[str, str] = field(default_factory=dict)
    scanner: str | None = None
    jobs: tuple[JobOutcome, ...] = ()

    @property
    def stopped_at(self) -> str | None:
        return next((step.name for step in self.steps if step.verdict in FAILED), None)

    @property
    def passed(self) -> bool:
        """A step ran, and no step and no required job failed."""
        if self.stopped_at or any(job.required and job.verdict in FAILED for job in self.jobs):
            return False
        return any(step.verdict in ("passed", "skipped") for step in self.steps)

    @property
    def seconds(self) -> float | None:
        times = [step.seconds for step in self.steps if step.seconds is not None]
        return sum(times) if times else None

    def step(self, name: str) -> StepOutcome | None:
        return next((step for step in self.steps if step.name == name), None)

    def step_outputs(self, name: str) -> Mapping[str, str]:
        step = self.step(name)
        return step.outputs if step else {}

    def to_document(self) -> dict[str, Any]:
        """The JSON result (schema of `--result-json`)."""
        return {
            "verdict": "passed" if self.passed else "failed",
            "stopped_at": self.stopped_at,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "scanner": self.scanner,
            "steps": [
                {
                    "name": step.name,
                    "verdict": step.verdict,
                    "exit_code": step.exit_code,
                    "seconds": None if step.seconds is None else round(step.seconds, 3),
                    "outputs": dict(step.outputs),
                }
                for step in self.steps
            ],
            "outputs": dict(self.outputs),
        }


def outputs_of(entry: Mapping[str, Any]) -> dict[str, str]:
    """An entry's `outputs` object as strings: a step's in GitHub's `steps` context or in the JSON result."""
    return {str(key): str(value) for key, value in (entry.get("outputs") or {}).items()}


def from_document(document: Mapping[str, Any]) -> Outcome:
    """An outcome from the JSON result (as `to_document` writes it)."""
    steps = tuple(
        StepOutcome(
            name=str(step["name"]),
            verdict=str(step["verdict"]),
            seconds=step.get("seconds"),
            exit_code=step.get("exit_code"),
            outputs=outputs_of(step),
        )
        for step in document.get("steps") or []
    )
    return Outcome(steps, outputs_of(document), document.get("scanner"))


def scanner_line(outputs: Mapping[str, str]) -> str | None:
    """'grype <version>; vulnerability database v6 ...' for a scan that ran grype, else None."""
    version = outputs.get("grype-version")
    return f"grype {version}; {outputs.get('database', '')}" if version else None


def step_verdict(ok: bool, outputs: Mapping[str, str]) -> str:
    """failed, passed, or skipped: a step that passed without doing its work (a scan with skip-scan)."""
    if not ok:
        return "failed"
    return "skipped" if outputs.get("verdict") == "skipped" else "passed"


def github_step_verdict(outcome: str, outputs: Mapping[str, str]) -> str:
    """A step's verdict from its outcome in GitHub's `steps` context (no outcome: it did not run)."""
    if outcome in ("success", "failure"):
        return step_verdict(outcome == "success", outputs)
    return FROM_GITHUB.get(outcome, "not-run")


def platform_step(step: str, platform: str) -> str:
    """A further platform's row of STEP, named by its architecture: ('scan', 'linux/arm64') -> scan-arm64."""
    return f"{step}-{platform.partition('/')[2].split('/')[0]}"


def from_github_steps(steps: Mapping[str, Any], extra_outputs: Mapping[str, str] | None = None) -> Outcome:
    """An outcome from the `steps` context of a job or composite action whose step ids are STEPS."""
    outcomes = []
    for name in STEPS:
        context = steps.get(name) or {}
        outputs = outputs_of(context)
        outcomes.append(
            StepOutcome(name, github_step_verdict(str(context.get("outcome", "")), outputs), outputs=outputs)
        )
    # A build of two platforms: the second's scan (its wheels differ) and smoke test, named by it. A
    # single platform's run has no such rows, though the steps context lists those steps with outcome
    # `skipped` (actions/runner docs/adrs/0274-step-outcome-and-conclusion.md).
    second_platform = outputs_of(steps.get("build") or {}).get("platforms", "").split(",")[1:]
    for step, step_id in (("smoke-test", SECOND_PLATFORM_STEP), ("scan", SECOND_PLATFORM_SCAN)):
        context = steps.get(step_id) or {}
        if second_platform and context.get("outcome"):
            outputs = outputs_of(context)
            verdict = github_step_verdict(str(context["outcome"]), outputs)
            name = platform_step(step, second_platform[0])
            outcomes.insert(STEPS.index(step) + 1, StepOutcome(name, verdict, outputs=outputs))
    push = next(step.outputs for step in outcomes if step.name == "push")
    scan = next(step.outputs for step in outcomes if step.name == "scan")
    delivered = {name: push[name] for name in ("digest", "image-ref") if push.get(name)}
    return Outcome(tuple(outcomes), {**delivered, **(extra_outputs or {})}, scanner_line(scan))


def deliver_jobs(needs: Mapping[str, Any], outcome: Outcome) -> tuple[JobOutcome, ...]:
    """The reusable workflow's SARIF and attestation jobs, from the summary job's `needs` context.

    The pipeline job itself gets a row only when it failed with no failed step to show for it.
    """
    image_name = outcome.outputs.get("image-name", "")
    pipeline = job_verdict(needs, "pipeline")
    unexplained = pipeline in FAILED and outcome.stopped_at is None
    why = (
        "a leg failed: see each leg's job summary"
        if has_legs(needs)
        else "failed outside its steps: see its log"
    )
    failed_job = (JobOutcome("pipeline job", pipeline, why, True),)
    merge = (
        (
            JobOutcome(
                "OCI index", job_verdict(needs, "merge"), "every tag: one index of the legs' images", True
            ),
        )
        if has_legs(needs)
        else ()
    )
    return (
        (failed_job if unexplained else ())
        + merge
        + (
            JobOutcome(
                "SARIF upload",
                job_verdict(needs, "sarif"),
                f"code-scanning category `modelship-grype/{image_name}`",
                required=False,  # code scanning may be off in the caller's repository
            ),
            JobOutcome(
                "attestations",
                job_verdict(needs, "attest"),
                "build provenance and SBOM (SPDX) of the pushed digest",
                required=True,
            ),
        )
    )


def has_legs(needs: Mapping[str, Any]) -> bool:
    """Whether the reusable workflow's pipeline ran as one leg per platform (native arm64)."""
    legs = str(((needs.get("plan") or {}).get("outputs") or {}).get("legs") or "")
    return legs not in ("", '[""]')


def delivered_by_legs(needs: Mapping[str, Any], outputs: Mapping[str, str]) -> dict[str, str]:
    """With legs, a leg's push is not the delivery: the merge job's index is (none if it did not pass)."""
    if not has_legs(needs):
        return dict(outputs)
    merge = needs.get("merge") or {}
    merged = (merge.get("outputs") or {}) if merge.get("result") == "success" else {}
    kept = {name: value for name, value in outputs.items() if name not in ("digest", "image-ref")}
    return kept | {name: str(merged[name]) for name in ("digest", "image-ref") if merged.get(name)}


def job_verdict(needs: Mapping[str, Any], job: str) -> str:
    return FROM_GITHUB.get(str((needs.get(job) or {}).get("result", "")), "not-run")


def step_detail(step: StepOutcome, outcome: Outcome) -> str:
    """What one step's row says besides its verdict."""
    out = step.outputs
    if step.name == "fetch" and out.get("model-name"):
        sha = f", sha256 `{out['sha256'][:12]}`" if out.get("sha256") else ""
        return f"model `{out['model-name']}` {out.get('model-version', '')}{sha}"
    if step.name == "lint" and out.get("pylint-score"):
        return f"pylint {out['pylint-score']}/10, hadolint {out.get('hadolint-findings', '0')} findings"
    if step.name == "build" and out.get("image"):
        reused = (
            f"; layers reused from {out['cache-from'] or 'no pushed image'}" if "cache-from" in out else ""
        )
        return f"`{out['image']}`{reused}"
    if step.name.startswith("scan") and step.verdict == "skipped":
        return "not scanned (skip-scan): no vulnerability verdict"
    if step.name.startswith("scan") and out.get("verdict"):
        found = f"`{out['verdict']}`, {out.get('total', '?')} vulnerabilities found"
        return "; ".join(filter(None, [found, outcome.scanner]))
    if step.name.startswith("smoke-test") and step.verdict in ("passed", "failed") and out:
        return f"cold start {out.get('cold-start-ms') or '?'} ms, p50 {out.get('latency-p50-ms') or '?'} ms"
    if step.name == "push":
        return outcome.outputs.get("image-ref") or "not pushed"
    return ""


def headline(outcome: Outcome) -> str:
    """The verdict: delivered (where), built and tested, or not delivered (where it stopped)."""
    seconds = outcome.seconds
    if not outcome.passed:
        stopped = f": stopped at **{outcome.stopped_at}**" if outcome.stopped_at else ""
        after = f" after {seconds:.1f} s" if seconds is not None and outcome.stopped_at else ""
        return f"❌ not delivered{stopped}{after}"
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    if outcome.outputs.get("image-ref"):
        return f"✅ delivered `{outcome.outputs['image-ref']}`{took}"
    image = outcome.step_outputs("build").get("image")
    return f"✅ built and tested `{image}` (not pushed){took}" if image else f"✅ passed{took}"


def quantization(build: Mapping[str, str]) -> list[str]:
    """The int8 gate's figures under the table, when the build quantized the model."""
    if not build.get("quantize-verdict"):
        return []
    mark = "✅" if build["quantize-verdict"] == "pass" else "❌"
    return [
        "",
        f"{mark} **{build['quantized']} variant**: agreement {float(build['agreement']):.1%}, worst error "
        f"{build['worst-abs-error']} absolute ({float(build['worst-rel-error']):.2%} relative), model size "
        f"{build['size-ratio']}x, in-process latency {build['latency-ratio']}x of the fp32 model's",
    ]


def platform_rows(outcome: Outcome) -> list[str]:
    """A row per platform of a multi-platform build: size, smoke result, digest; then the size ratio."""
    build = outcome.step_outputs("build")
    images = json.loads(build.get("platform-images") or "[]")
    if not images:
        return []
    digests = json.loads(outcome.step_outputs("push").get("platform-digests") or "{}")
    rows = ["", "| platform | size | smoke test | digest |", "| --- | --- | --- | --- |"]
    for index, image in enumerate(images):
        smoke = outcome.step("smoke-test" if index == 0 else platform_step("smoke-test", image["platform"]))
        verdict = MARKS[smoke.verdict] if smoke else MARKS["not-run"]
        if smoke and smoke.outputs.get("emulated") == "true":
            verdict += " (emulated)"
        digest = f"`{digests[image['platform']]}`" if image["platform"] in digests else "not pushed"
        rows.append(
            f"| {image['platform']} | {int(image['size-bytes']) / 1e6:.1f} MB | {verdict} | {digest} |"
        )
    if build.get("arm64-size-ratio"):
        rows += ["", f"arm64/amd64 image size: {build['arm64-size-ratio']}x"]
    if outcome.step_outputs("push").get("resolved-platforms"):
        rows.append(f"The tag resolves to {outcome.step_outputs('push')['resolved-platforms']}.")
    return rows


def render(outcome: Outcome, owner: str = "") -> str:
    """The run summary: the verdict, then a row per step (and per later job), then the int8 gate."""
    rows = ["| step | result | time | detail |", "| --- | --- | --- | --- |"]
    for step in outcome.steps:
        time = "" if step.seconds is None else f"{step.seconds:.1f} s"
        rows.append(f"| {step.name} | {MARKS[step.verdict]} | {time} | {step_detail(step, outcome)} |")
    for job in outcome.jobs:
        rows.append(f"| {job.name} | {MARKS[job.verdict]} | | {job.detail} |")
    lines = [f"## modelship: {headline(outcome)}", "", *rows, *quantization(outcome.step_outputs("build"))]
    lines += platform_rows(outcome)
    digest, image_name = outcome.outputs.get("digest"), outcome.outputs.get("image-name")
    attested = any(job.name == "attestations" and job.verdict == "passed" for job in outcome.jobs)
    if digest and image_name and attested:
        verify = f"gh attestation verify oci://{image_name}@{digest} --owner {owner}"
        lines += ["", f"Check the attestations: `{verify}`"]
    return "\n".join(lines)


def parse_json(text: str, option: str) -> dict[str, Any]:
    """A JSON object input, or a clean error naming the input."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise gha.StepError(
            f"{gha.input_name(option)} is not JSON ({error.msg}); pass toJSON(...) of the context"
        ) from None
    if not isinstance(value, dict):
        raise gha.StepError(f"{gha.input_name(option)} must be a JSON object, not {type(value).__name__}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Write the summary (or, with --record, the result as output `result`)."""
    parser = gha.StepParser(prog="summary", description=__doc__.splitlines()[0])
    parser.add_input("--github-steps", help="toJSON(steps) of the job or action that ran the steps")
    parser.add_input("--result", help="a result recorded with --record (the reusable workflow's summary job)")
    parser.add_input("--jobs", help="toJSON(needs) of the summary job: the SARIF and attestation jobs")
    parser.add_input("--image-name", help="the image's name without a tag, recorded with the result")
    parser.add_flag(
        "--record", help="set output `result` to the outcome as JSON instead of writing the summary"
    )
    args = parser.parse_args(argv)
    with gha.step_errors():
        if args.result is not None:
            outcome = from_document(parse_json(args.result, "result"))
        else:
            extra = {"image-name": args.image_name} if args.image_name else {}
            outcome = from_github_steps(parse_json(args.github_steps, "github-steps"), extra)
        if args.record:
            gha.set_output("result", json.dumps(outcome.to_document(), separators=(",", ":")))
            return 0
        owner = os.environ.get("GITHUB_REPOSITORY_OWNER", "")
        if args.jobs is not None:
            needs = parse_json(args.jobs, "jobs")
            jobs = deliver_jobs(needs, outcome)
            outcome = Outcome(outcome.steps, delivered_by_legs(needs, outcome.outputs), outcome.scanner, jobs)
        gha.add_summary(render(outcome, owner))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
