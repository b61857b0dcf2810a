"""Smoke-test step: run the image with limits, compare its answers with the model run in-process, time it.

The container's life is scripts.smoke_container; the checks, each a small named function, are
scripts.smoke_checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from scripts import emulation, gha, smoke_container
from scripts.docker_engine import connect, local_image
from scripts.gha import StepError
from scripts.payloads import signature
from scripts.platforms import EMULATION_FACTOR
from scripts.samples import load, locate
from scripts.smoke_checks import Context, Report, Server, run_checks
from serving.model_folder import MODEL_FILE


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def summary(report: Report) -> str:
    """The verdict-first Markdown summary: verdict, cold start and p99, then the table of checks."""
    failed = [c for c in report.checks if not c.ok]
    cold = f"{report.cold_start_ms:.0f} ms" if report.cold_start_ms is not None else "never ready"
    timing = f"cold start {cold}"
    if report.latencies_ms:
        timing += f", p99 {report.p99_ms:.1f} ms (p50 {report.p50_ms:.1f} ms"
        timing += f" over {len(report.latencies_ms)} requests)"
    if report.emulated:
        timing += f"; {report.platform} emulated with QEMU (time budget {EMULATION_FACTOR:g}x)"
    if report.passed:
        head = f"✅ **smoke test passed**: `{report.image}`, {timing}"
    else:
        count = f"{len(failed)} of {len(report.checks)} checks"
        head = f"❌ **smoke test failed** ({count}): `{report.image}`, {timing}"
    rows = ["| check | result | detail |", "| --- | --- | --- |"]
    rows += [f"| {cell(c.name)} | {'✅' if c.ok else '❌'} | {cell(c.detail)} |" for c in report.checks]
    parts = [head, "", *rows]
    if not report.passed and report.log:
        parts += ["", gha.details("container log", report.log)]
    return "\n".join(parts)


@dataclass(frozen=True)
class Options:
    """The smoke test's inputs, parsed once."""

    image: str
    model_dir: Path
    samples: Path | None
    timeout: float
    limits: smoke_container.Limits


def parse_args(argv: list[str] | None) -> Options:
    """Read the inputs (CLI or INPUT_*)."""
    parser = gha.StepParser(prog="smoke-test", description=__doc__)
    parser.add_input("--image", required=True, help="image id or ref to test (the one just built)")
    parser.add_input("--model-dir", required=True, help="the model folder the image was built from")
    parser.add_input("--samples", default="", help="samples file (default: samples.json in the model folder)")
    parser.add_input("--timeout", default="60", help="seconds to wait for /ready")
    parser.add_input("--cpus", default="1", help="CPU limit of the container")
    parser.add_input("--memory", default="512m", help="memory limit of the container")
    args = parser.parse_args(argv)
    model_dir = Path(args.model_dir)
    if not (model_dir / MODEL_FILE).is_file():
        raise StepError(
            f"{gha.input_name('model-dir')} ({model_dir}) holds no {MODEL_FILE}; "
            "pass the folder the fetch step wrote"
        )
    limits = smoke_container.Limits(positive_number("cpus", args.cpus), args.memory)
    return Options(
        args.image,
        model_dir,
        locate(model_dir, args.samples),
        positive_number("timeout", args.timeout),
        limits,
    )


def positive_number(name: str, text: str) -> float:
    """An input that must be a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise StepError(f"{gha.input_name(name)} must be a number, not {text!r}") from None
    if not value > 0:
        raise StepError(f"{gha.input_name(name)} must be positive, not {text!r}")
    return value


def load_reference_model(model_dir: Path) -> Any:
    """The model run in-process (serving.model, the code inside the image) for the expected answers."""
    from serving.model import ModelError, load_model

    try:
        return load_model(model_dir)
    except ModelError as error:
        raise StepError(
            f"cannot load the model in {model_dir} to compute expected answers: {error}"
        ) from None


def smoke_test(options: Options) -> Report:
    """Run the container and every check; the container is removed whatever happens."""
    samples = load(options.samples)
    model = load_reference_model(options.model_dir)
    report = Report(options.image)
    client = connect()
    try:
        image = local_image(client, options.image)
        platform, report.emulated = emulation.image_platform(client, image)
        report.platform = str(platform)
        with (
            emulation.scratch_folder() as scratch,
            smoke_container.running(
                client,
                image,
                options.image,
                options.limits,
                emulation.cpuinfo_volume(platform, Path(scratch)) if report.emulated else None,
            ) as run,
            requests.Session() as session,
        ):
            timeout = emulation.scaled(options.timeout, report.emulated)
            ready = smoke_container.wait_ready(run, session, timeout)
            report.cold_start_ms = ready.cold_start_ms
            report.add("ready", ready.cold_start_ms is not None, ready.detail)
            if ready.cold_start_ms is not None:
                reference = model.metadata()
                server = Server(run.url, session, report)
                run_checks(Context(server, model, samples, reference, signature(reference)))
        report.log = run.log
    finally:
        client.close()
    return report


def publish(report: Report) -> None:
    """Write the outputs and the summary; on failure print the container log and annotate."""
    gha.set_output("cold-start-ms", f"{report.cold_start_ms:.0f}" if report.cold_start_ms is not None else "")
    if report.latencies_ms:
        gha.set_output("latency-p50-ms", f"{report.p50_ms:.2f}")
        gha.set_output("latency-p99-ms", f"{report.p99_ms:.2f}")
    gha.set_output("requests", report.requests)
    gha.set_output("platform", report.platform)
    gha.set_output("emulated", "true" if report.emulated else "false")
    gha.set_output("verdict", "pass" if report.passed else "fail")
    gha.add_summary(summary(report))
    if not report.passed:
        print(f"--- container log ---\n{report.log.rstrip()}\n--- end of the container log ---")
        first = next(c for c in report.checks if not c.ok)
        gha.annotate("error", f"smoke test failed: {first.name}: {first.detail}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.smoke_test --image REF --model-dir DIR [--samples FILE] ...`."""
    with gha.step_errors():
        report = smoke_test(parse_args(argv))
        publish(report)
        return 0 if report.passed else 1
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
