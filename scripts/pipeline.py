"""Run the whole pipeline locally: fetch → lint → build → scan → smoke-test → push.

Each step is the same `main()` the composite actions run; the pipeline feeds one step's outputs
to the next, stops at the first failing gate and ends with every step's verdict and time, in the
summary for a person (scripts.summary, the same as the actions') and as JSON (`--result-json`) for
a program.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts import attestation, gha, platforms, provenance, summary
from scripts.model_inputs import add_azure_inputs, add_model_inputs, azure_workspace

StepMain = Callable[[list[str] | None], int]
PROJECT_DIR = Path(__file__).resolve().parents[1]
RESULT_FILENAME = "pipeline-result.json"


@dataclass(frozen=True)
class StepResult:
    """How one step ended."""

    name: str
    exit_code: int
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def run_step(name: str, step_main: StepMain, argv: list[str], workdir: Path) -> StepResult:
    """Run one step's `main(argv)` in-process and collect its exit code, time and outputs."""
    print(f"\n━━━ {name} ━━━", flush=True)
    started = time.monotonic()
    # The step's outputs go to a file of its own; the job's $GITHUB_OUTPUT gets only the pipeline's.
    with gha.outputs_to(workdir / f"{name}.outputs") as output_file:
        try:
            exit_code = step_main(argv)
        except SystemExit as exit_info:
            exit_code = exit_info.code if isinstance(exit_info.code, int) else 1
    return StepResult(name, exit_code, time.monotonic() - started, gha.read_outputs(output_file))


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
    scan = done.get("scan")
    return summary.Outcome(tuple(steps), scanner=summary.scanner_line(scan.outputs) if scan else None)


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


def option(flag: str, value: str | None) -> list[str]:
    """`[flag, value]` when a value is given, else nothing."""
    return [flag, value] if value else []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The pipeline's own options; each is passed on to the step that uses it."""
    parser = gha.StepParser(prog="pipeline", description=__doc__)
    parser.add_input("--source", default="local", choices=list(provenance.SOURCES))
    add_model_inputs(parser)
    parser.add_input("--dest", default=".modelship/model", help="folder the model is fetched into")
    parser.add_input("--expected-sha256")
    add_azure_inputs(parser)
    parser.add_input("--timeout", help="seconds the model's fetch may take, all its files (default 300)")
    parser.add_input("--max-size-mb", help="the largest model accepted, all its files, in MB (default 2048)")
    parser.add_input("--image-name", required=True, help="image name, with its registry to push")
    parser.add_input("--tags", help="extra tags, comma-separated")
    parser.add_input("--base-image", help="the image's base; {arch} in it names each platform's own")
    parser.add_input(
        "--platforms", help="linux/amd64 and/or linux/arm64, comma-separated (default: the engine's)"
    )
    parser.add_input("--dockerfile", default=str(PROJECT_DIR / "Dockerfile"), help="the serving Dockerfile")
    parser.add_input("--severity-cutoff", default="high")
    parser.add_flag("--skip-scan", help="do not scan (reported loudly); for machines without grype")
    parser.add_input("--samples", help="sample payloads for the smoke test (samples.json format)")
    parser.add_input("--quantize", help="ship a variant of the model: int8, gated on agreement with fp32")
    parser.add_input("--max-abs-error", default="0.01", help="quantize: absolute error allowed per number")
    parser.add_input("--max-rel-error", default="0.01", help="quantize: relative error allowed per number")
    parser.add_input("--username", help="registry user; the password comes from $REGISTRY_PASSWORD")
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


def fetch_argv(args: argparse.Namespace) -> list[str]:
    """The fetch step's arguments (the workspace's coordinates under their new names)."""
    subscription_id, resource_group, workspace = azure_workspace(args)
    return [
        "--source",
        args.source,
        "--dest",
        args.dest,
        *option("--model", args.model),
        *option("--expected-sha256", args.expected_sha256),
        *option("--azure-subscription-id", subscription_id),
        *option("--azure-resource-group", resource_group),
        *option("--azure-workspace", workspace),
        *option("--model-registry", args.model_registry),
        *option("--azure-cloud", args.azure_cloud),
        *option("--timeout", args.timeout),
        *option("--max-size-mb", args.max_size_mb),
        *option("--model-name", args.model_name),
        *option("--model-version", args.model_version),
        *option("--model-label", args.model_label),
    ]


Outputs = dict[str, dict[str, str]]
Stage = tuple[str, StepMain, Callable[[Outputs], list[str]]]


def built_model_dir(outputs: Outputs) -> str:
    """The model folder the image holds: the quantized variant's when the build made one, else the fetched."""
    return outputs.get("build", {}).get("model-dir") or outputs["fetch"]["model-dir"]


def stages(args: argparse.Namespace) -> list[Stage]:
    """The steps in order, each with its arguments made from the earlier steps' outputs."""
    from scripts import build, fetch, lint, push, scan, smoke_test

    def build_argv(out: Outputs) -> list[str]:
        return [
            "--model-dir",
            out["fetch"]["model-dir"],
            "--image-name",
            args.image_name,
            *option("--tags", args.tags),
            *option("--base-image", args.base_image),
            "--dockerfile",
            args.dockerfile,
            # to pull the image pushed last time under this name, whose layers the build reuses
            *option("--username", args.username),
            *quantize_argv(),
            *option("--platforms", args.platforms),
        ]

    def quantize_argv() -> list[str]:
        if not args.quantize:
            return []
        limits = ["--max-abs-error", args.max_abs_error, "--max-rel-error", args.max_rel_error]
        return ["--quantize", args.quantize, *limits, *option("--samples", args.samples)]

    def scan_argv(out: Outputs) -> list[str]:
        skip = ["--skip"] if args.skip_scan else []
        return ["--image", out["build"]["image"], "--severity-cutoff", args.severity_cutoff, *skip]

    def smoke_argv(out: Outputs, platform: int = 0) -> list[str]:
        images = json.loads(out["build"].get("platform-images") or "[]")
        image = images[platform]["image-id"] if images else out["build"]["image"]
        return ["--image", image, "--model-dir", built_model_dir(out), *option("--samples", args.samples)]

    def push_argv(out: Outputs) -> list[str]:
        dry_run = ["--dry-run"] if args.dry_run else []
        return [
            "--image",
            out["build"]["image-id"],
            "--tags",
            out["build"]["tags"],
            *option("--username", args.username),
            *option("--platform-images", out["build"].get("platform-images")),
            *dry_run,
        ]

    lint_argv = ["--dockerfile", args.dockerfile, "--python-paths", str(PROJECT_DIR / "serving")]
    planned: list[Stage] = [
        ("fetch", fetch.main, lambda _: fetch_argv(args)),
        ("lint", lint.main, lambda _: lint_argv),
        ("build", build.main, build_argv),
        ("scan", scan.main, scan_argv),
        ("smoke-test", smoke_test.main, smoke_argv),
    ]
    # A smoke test per further platform, each on its own image (under emulation when foreign).
    for index, platform in enumerate(platforms.named(args.platforms or "")[1:], start=1):
        planned.append(
            (
                summary.platform_step("smoke-test", str(platform)),
                smoke_test.main,
                functools.partial(smoke_argv, platform=index),
            )
        )
    return planned if args.no_push else [*planned, ("push", push.main, push_argv)]


def build_facts(args: argparse.Namespace, outputs: Outputs, started_on: str) -> attestation.BuildFacts:
    """What the provenance statement says, from the steps' outputs (after a push with a digest)."""
    build_labels = json.loads(outputs["build"].get("labels") or "{}")
    return attestation.BuildFacts(
        repository=outputs["push"]["image-ref"].split("@", 1)[0],
        digest=outputs["push"]["digest"],
        model=provenance.read(Path(built_model_dir(outputs))),
        dockerfile=Path(args.dockerfile),
        base_image=outputs["build"].get("base-image", ""),
        base_image_id=outputs["build"].get("base-image-id", ""),
        base_image_digest=outputs["build"].get("base-image-digest", ""),
        git_commit=build_labels.get("org.opencontainers.image.revision", ""),
        source_url=build_labels.get("org.opencontainers.image.source", ""),
        started_on=started_on,
        finished_on=provenance.utc_now(),
    )


def delivered_outputs(
    args: argparse.Namespace, outputs: Outputs, passed: bool, started_on: str
) -> dict[str, str]:
    """The pipeline's own outputs: the SBOMs; after a push, its digest, reference and provenance statement."""
    scan = outputs.get("scan", {})
    delivered = {name: scan[name] for name in ("sbom-spdx", "sbom-cyclonedx") if scan.get(name)}
    if outputs.get("build", {}).get("arm64-size-ratio"):
        delivered["arm64-size-ratio"] = outputs["build"]["arm64-size-ratio"]
    if not passed or "push" not in outputs:
        return delivered
    delivered["digest"] = outputs["push"].get("digest", "")
    delivered["image-ref"] = outputs["push"].get("image-ref", "")
    if outputs["push"].get("resolved-platforms"):
        delivered["resolved-platforms"] = outputs["push"]["resolved-platforms"]
    if delivered["digest"]:
        default = Path(args.dest).parent / attestation.FILENAME
        written = attestation.write(
            Path(args.provenance_file or default), build_facts(args, outputs, started_on)
        )
        print(f"provenance statement (in-toto, SLSA provenance v1, unsigned): {written}")
        delivered["provenance"] = str(written)
    return delivered


def main(argv: list[str] | None = None) -> int:
    """Run every step in order, stopping at the first failure."""
    args = parse_args(argv)
    with gha.step_errors():  # a bad --platforms stops here, before any step
        planned = stages(args)
    results: list[StepResult] = []
    outputs: Outputs = {}
    started_on = provenance.utc_now()
    with tempfile.TemporaryDirectory(prefix="modelship-pipeline-") as scratch:
        for name, step_main, make_argv in planned:
            result = run_step(name, step_main, make_argv(outputs), Path(scratch))
            results.append(result)
            outputs[name] = result.outputs
            if not result.ok:
                break
    ran = outcome(results, [name for name, _, _ in planned])
    delivered = delivered_outputs(args, outputs, ran.passed, started_on)
    ran = dataclasses.replace(ran, outputs=delivered)
    gha.add_summary(summary.render(ran))
    for name, value in delivered.items():
        gha.set_output(name, value)
    result_path = Path(args.result_json or Path(args.dest).parent / RESULT_FILENAME)
    gha.set_output("result-json", write_result(result_path, ran.to_document()))
    return 0 if ran.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
