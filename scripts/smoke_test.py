"""Smoke-test step: run the image with limits, compare its answers with the model run in-process, time it.

The container's life is scripts.smoke_container; the checks, each a small named function, are
scripts.smoke_checks. `run` takes a checked `SmokeRequest` (`request`) and returns the typed `Report`;
`main` writes its outputs and summary at the edge.
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

DEFAULT_TIMEOUT = "60"  # seconds to wait for /ready, as the input's text
DEFAULT_CPUS = "1"
DEFAULT_MEMORY = "512m"
DEFAULT_LIMITS = smoke_container.Limits(float(DEFAULT_CPUS), DEFAULT_MEMORY)


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
    rows += [
        f"| {gha.table_cell(c.name)} | {'✅' if c.ok else '❌'} | {gha.table_cell(c.detail)} |"
        for c in report.checks
    ]
    parts = [head, "", *rows]
    if not report.passed and report.log:
        parts += ["", gha.details("container log", report.log)]
    return "\n".join(parts)


@dataclass(frozen=True)
class SmokeRequest:
    """What the smoke test needs: the image, the model folder it was built from, samples, limits."""

    image: str
    model_dir: Path
    samples: Path | None = None
    timeout: float = float(DEFAULT_TIMEOUT)
    limits: smoke_container.Limits = DEFAULT_LIMITS


def request(
    image: str,
    model_dir: Path,
    samples: str = "",
    timeout: str = DEFAULT_TIMEOUT,
    cpus: str = DEFAULT_CPUS,
    memory: str = DEFAULT_MEMORY,
) -> SmokeRequest:
    """The checked request: the folder holds the model, the numbers are positive, the samples exist."""
    if not (model_dir / MODEL_FILE).is_file():
        raise StepError(
            f"{gha.input_name('model-dir')} ({model_dir}) holds no {MODEL_FILE}; "
            "pass the folder the fetch step wrote"
        )
    limits = smoke_container.Limits(gha.positive_number(cpus, "cpus"), memory)
    return SmokeRequest(
        image, model_dir, locate(model_dir, samples), gha.positive_number(timeout, "timeout"), limits
    )


def parse_args(argv: list[str] | None) -> SmokeRequest:
    """Read the inputs (CLI or INPUT_*)."""
    parser = gha.StepParser(prog="smoke-test", description=__doc__)
    parser.add_input("--image", required=True, help="image id or ref to test (the one just built)")
    parser.add_input("--model-dir", required=True, help="the model folder the image was built from")
    parser.add_input("--samples", default="", help="samples file (default: samples.json in the model folder)")
    parser.add_input("--timeout", default=DEFAULT_TIMEOUT, help="seconds to wait for /ready")
    parser.add_input("--cpus", default=DEFAULT_CPUS, help="CPU limit of the container")
    parser.add_input("--memory", default=DEFAULT_MEMORY, help="memory limit of the container")
    args = parser.parse_args(argv)
    return request(args.image, Path(args.model_dir), args.samples, args.timeout, args.cpus, args.memory)


def load_reference_model(model_dir: Path) -> Any:
    """The model run in-process (serving.model, the code inside the image) for the expected answers."""
    from serving.model import ModelError, load_model

    try:
        return load_model(model_dir)
    except ModelError as error:
        raise StepError(
            f"cannot load the model in {model_dir} to compute expected answers: {error}"
        ) from None


def run(request: SmokeRequest) -> Report:
    """Run the container and every check; the container is removed whatever happens."""
    samples = load(request.samples)
    model = load_reference_model(request.model_dir)
    result = Report(request.image)
    client = connect()
    try:
        image = local_image(client, request.image)
        platform, result.emulated = emulation.image_platform(client, image)
        result.platform = str(platform)
        with (
            emulation.scratch_folder() as scratch,
            smoke_container.running(
                client,
                image,
                request.image,
                request.limits,
                emulation.cpuinfo_volume(platform, Path(scratch)) if result.emulated else None,
            ) as container,
            requests.Session() as session,
        ):
            timeout = emulation.scaled(request.timeout, result.emulated)
            ready = smoke_container.wait_ready(container, session, timeout)
            result.cold_start_ms = ready.cold_start_ms
            result.add("ready", ready.cold_start_ms is not None, ready.detail)
            if ready.cold_start_ms is not None:
                reference = model.metadata()
                server = Server(container.url, session, result)
                run_checks(Context(server, model, samples, reference, signature(reference)))
        result.log = container.log
    finally:
        client.close()
    return result


def report(result: Report) -> None:
    """The summary; on failure the container log printed and the first failed check annotated."""
    gha.add_summary(summary(result))
    if not result.passed:
        print(f"--- container log ---\n{result.log.rstrip()}\n--- end of the container log ---")
        first = next(c for c in result.checks if not c.ok)
        gha.annotate("error", f"smoke test failed: {first.name}: {first.detail}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.smoke_test --image REF --model-dir DIR [--samples FILE] ...`."""
    return gha.conclude(lambda: run(parse_args(argv)), report)


if __name__ == "__main__":
    raise SystemExit(main())
