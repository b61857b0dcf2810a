"""Run the whole pipeline locally: fetch → lint → build → scan → smoke-test → push.

Each step is the same `run` the step's `main` (and so its composite action) calls; the pipeline hands
each step's typed result to the next, stops at the first failing gate and ends with every step's
verdict and time, in the summary for a person (scripts.summary, the same as the actions') and as JSON
(`--result-json`) for a program.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from scripts import (
    attestation,
    build,
    fetch,
    gha,
    lint,
    platforms,
    provenance,
    push,
    scan,
    smoke_checks,
    smoke_test,
    summary,
)
from scripts.fetch_request import check_request
from scripts.image_ref import ImageRef
from scripts.scan_findings import CUTOFFS

RESULT_FILENAME = "pipeline-result.json"


@dataclass(frozen=True)
class StepResult:
    """How one step ended: its exit code, time and outputs (as its action would have set them)."""

    name: str
    exit_code: int
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Stopped(Exception):
    """A step failed; the steps after it do not run."""


@dataclass
class Steps:
    """Runs the steps in order, keeping how each ended."""

    ended: list[StepResult] = field(default_factory=list)

    def run(
        self, name: str, work: Callable[[], gha.Result], report: Callable[[gha.Result], None]
    ) -> gha.Result:
        """Run one step and report it as its `main` would; raise `Stopped` when it fails."""
        print(f"\n━━━ {name} ━━━", flush=True)
        started = time.monotonic()
        try:
            result = work()
        except gha.StepError as error:
            outputs = {}
            if error.partial is not None:  # what the step finished first, reported as its main does
                outputs = error.partial.outputs()
                report(cast(gha.Result, error.partial))
            gha.report_error(str(error))
            self.ended.append(StepResult(name, error.exit_code, time.monotonic() - started, outputs))
            raise Stopped(name) from None
        report(result)
        self.ended.append(
            StepResult(name, 0 if result.passed else 1, time.monotonic() - started, result.outputs())
        )
        if not result.passed:
            raise Stopped(name)
        return result


def outcome(results: list[StepResult], planned: list[str]) -> summary.Outcome:
    """The run's outcome: each planned step's verdict, time and outputs (not-run after a failure)."""
    done = {result.name: result for result in results}
    steps = []
    for name in planned:
        result = done.get(name)
        if result is None:
            steps.append(summary.StepOutcome(name, "not-run"))
            continue
        verdict = summary.step_verdict(result.ok, result.outputs)
        steps.append(summary.StepOutcome(name, verdict, result.seconds, result.exit_code, result.outputs))
    scan_step = done.get("scan")
    return summary.Outcome(
        tuple(steps), scanner=summary.scanner_line(scan_step.outputs) if scan_step else None
    )


def write_result(path: Path, document: dict[str, Any]) -> Path:
    """Write the JSON result to `path` and return it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        gha.die(
            f"cannot write the pipeline's result to {path}: {error.strerror}; "
            f"give {gha.input_name('result-json')} a file in a folder you can write to"
        )
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The pipeline's options: the fetch step's and the build step's, then the later steps' choices."""
    parser = gha.StepParser(prog="pipeline", description=__doc__)
    fetch.add_inputs(parser, source_default="local")
    build.add_inputs(parser)
    parser.add_choice(
        "--severity-cutoff", choices=CUTOFFS, default="high", help="the scan fails on findings at or above it"
    )
    parser.add_flag("--skip-scan", help="do not scan (reported loudly); for machines without grype")
    parser.add_flag("--no-push", help="stop after the smoke test")
    parser.add_flag("--dry-run", help="check the push without pushing")
    parser.add_input(
        "--provenance-file",
        help=f"the pushed image's provenance statement (default: {attestation.FILENAME} beside --dest)",
    )
    parser.add_input(
        "--result-json",
        help=f"the run's verdicts, times and outputs as JSON (default: {RESULT_FILENAME} beside --dest)",
    )
    return parser.parse_args(argv)


def dockerfile(args: argparse.Namespace) -> Path:
    """The serving Dockerfile lint reads: the build's default when not given."""
    return Path(args.dockerfile) if args.dockerfile else Path(args.project_dir) / "Dockerfile"


def per_platform(step: str, args: argparse.Namespace) -> list[str]:
    """STEP once per platform, the further platforms' named by their architecture (`scan-arm64`)."""
    further = platforms.named(args.platforms or "")[1:]
    return [step, *(summary.platform_step(step, str(platform)) for platform in further)]


def planned_steps(args: argparse.Namespace) -> list[str]:
    """The steps' names in order."""
    steps = ["fetch", "lint", "build", *per_platform("scan", args), *per_platform("smoke-test", args)]
    return steps if args.no_push else [*steps, "push"]


@dataclass
class Delivery:
    """The typed results the pipeline's own outputs are made from."""

    built: build.Built | None = None
    scanned: scan.ScanResult | None = None
    pushed: push.Pushed | None = None


def deliver(args: argparse.Namespace, steps: Steps, delivery: Delivery) -> None:
    """Run every step in order, each on the typed results of those before it; `Stopped` at a failure."""
    fetched = steps.run("fetch", lambda: fetch.run(check_request(args)), fetch.report)
    project = Path(args.project_dir)
    lint_request = lint.LintRequest(
        dockerfile(args), python_paths=(project / "serving",), pylint_config=project / "pyproject.toml"
    )
    steps.run("lint", functools.partial(lint.run, lint_request), lint.report)
    built = delivery.built = steps.run(
        "build", lambda: build.run(build.request_from(args, fetched.model_dir)), build.report
    )
    # Each platform's image, by the tag it was built under (its SBOMs are named by it): their wheels
    # differ, so their findings may.
    images = [str(image.ref) for image in built.platform_images] or [str(built.image)]
    for name, image in zip(per_platform("scan", args), images, strict=False):
        to_scan = scan.ScanRequest(image=image, severity_cutoff=args.severity_cutoff, skip=args.skip_scan)
        scanned = steps.run(name, functools.partial(scan.run, to_scan), scan.report)
        delivery.scanned = delivery.scanned or scanned  # the first platform's SBOMs are the pipeline's
    for name, image_id in zip(per_platform("smoke-test", args), built.image_ids, strict=False):
        steps.run(name, functools.partial(smoke_test_of, args, built, image_id), smoke_test.report)
    if not args.no_push:
        delivery.pushed = steps.run("push", functools.partial(push_of, args, built), push.report)


def smoke_test_of(args: argparse.Namespace, built: build.Built, image_id: str) -> smoke_checks.Report:
    """The smoke test of one platform's image, against the model folder it holds."""
    return smoke_test.run(smoke_test.request(image_id, built.model_dir, args.samples or ""))


def push_of(args: argparse.Namespace, built: build.Built) -> push.Pushed:
    """The push of the built image under every tag (an index over the platforms' images when several)."""
    request = push.request(
        built.image_id,
        built.refs,
        username=args.username or "",
        dry_run=args.dry_run,
        platform_images=built.platform_images,
    )
    return push.run(request)


def build_facts(
    args: argparse.Namespace, built: build.Built, image: ImageRef, started_on: str
) -> attestation.BuildFacts:
    """What the provenance statement says of the pushed image (by digest) and what it was made from."""
    return attestation.BuildFacts(
        repository=image.name,
        digest=image.digest,
        model=provenance.read(built.model_dir),
        dockerfile=built.plan.dockerfile,
        base_image=built.base_image,
        base_image_id=built.base_image_id,
        base_image_digest=built.base_image_digest,
        git_commit=built.labels.get("org.opencontainers.image.revision", ""),
        source_url=built.labels.get("org.opencontainers.image.source", ""),
        started_on=started_on,
        finished_on=provenance.utc_now(),
    )


def delivered_outputs(args: argparse.Namespace, delivery: Delivery, started_on: str) -> dict[str, str]:
    """The pipeline's own outputs: the SBOMs; after a push, its digest, reference and provenance statement."""
    scanned = delivery.scanned.outputs() if delivery.scanned else {}
    delivered = {name: scanned[name] for name in ("sbom-spdx", "sbom-cyclonedx") if scanned.get(name)}
    built = delivery.built.outputs() if delivery.built else {}
    if built.get("arm64-size-ratio"):
        delivered["arm64-size-ratio"] = built["arm64-size-ratio"]
    if delivery.pushed is None or delivery.built is None:
        return delivered
    pushed = delivery.pushed.outputs()
    delivered["digest"] = pushed.get("digest", "")
    delivered["image-ref"] = pushed.get("image-ref", "")
    if pushed.get("resolved-platforms"):
        delivered["resolved-platforms"] = pushed["resolved-platforms"]
    if delivery.pushed.image_ref is not None:
        default = Path(args.dest).parent / attestation.FILENAME
        facts = build_facts(args, delivery.built, delivery.pushed.image_ref, started_on)
        written = attestation.write(Path(args.provenance_file or default), facts)
        print(f"provenance statement (in-toto, SLSA provenance v1, unsigned): {written}")
        delivered["provenance"] = str(written)
    return delivered


def main(argv: list[str] | None = None) -> int:
    """Run every step in order, stopping at the first failure."""
    args = parse_args(argv)
    with gha.step_errors():  # a bad --platforms stops here, before any step
        planned = planned_steps(args)
    steps, delivery = Steps(), Delivery()
    started_on = provenance.utc_now()
    with contextlib.suppress(Stopped):  # the failed step is reported; the outcome says where it stopped
        deliver(args, steps, delivery)
    ran = outcome(steps.ended, planned)
    ran = dataclasses.replace(ran, outputs=delivered_outputs(args, delivery, started_on))
    gha.add_summary(summary.render(ran))
    gha.set_outputs(ran.outputs)
    result_path = Path(args.result_json or Path(args.dest).parent / RESULT_FILENAME)
    gha.set_output("result-json", write_result(result_path, ran.to_document()))
    return 0 if ran.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
