"""Time the local pipeline (python -m scripts.pipeline) end to end, against a private local registry."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import images
from bench.servers import PROJECT_DIR, free_port
from scripts import scanners

_HEADER = "| step | verdict | time |"
_STEP_ROW = re.compile(r"^\| (?P<step>[\w-]+) \| (?P<verdict>[^|]+) \| (?:(?P<seconds>[\d.]+) s)? *\|$")


def step_times(summary: str) -> dict[str, Any]:
    """Each step's verdict and seconds, read from the pipeline's report table in its summary."""
    steps: dict[str, Any] = {}
    in_table = False
    for line in summary.splitlines():
        if line.strip() == _HEADER:
            in_table = True
        elif in_table and (match := _STEP_ROW.match(line.strip())):
            seconds = float(match["seconds"]) if match["seconds"] else None
            steps[match["step"]] = {"verdict": match["verdict"].strip(), "seconds": seconds}
        elif in_table and not line.startswith("| ---"):
            in_table = False
    return steps


@contextmanager
def private_registry(state: Path) -> Iterator[dict[str, str]]:
    """tools/local-registry on a free port with its own storage; its MODELSHIP_TEST_REGISTRY* variables."""
    env = {**os.environ, "MODELSHIP_REGISTRY_STATE": str(state), "MODELSHIP_REGISTRY_PORT": str(free_port())}
    script = str(PROJECT_DIR / "tools" / "local-registry")
    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"tools/local-registry start failed: {started.stderr.strip()}")
    try:
        exports = re.findall(r"^export (\w+)=(.*)$", started.stdout, re.MULTILINE)
        yield dict(exports)
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, check=False)


def run_pipeline(
    model: Path, base_image: str, registry: dict[str, str], workdir: Path, log: Path, skip_scan: bool
) -> dict[str, Any]:
    """One pipeline run; wall-clock seconds, exit code and per-step times."""
    summary = workdir / f"summary-{time.monotonic_ns()}.md"
    summary.touch()
    env = {
        **os.environ,
        "REGISTRY_PASSWORD": registry["MODELSHIP_TEST_REGISTRY_PASSWORD"],
        "GITHUB_STEP_SUMMARY": str(summary),
        # The real grype and syft on grype-testdb's offline database (no feed on this machine): the
        # scan's real work (SBOM, matching) is timed, against 3 advisories, not grype's full database.
        **scanners.offline_test_database(workdir / "grype-db"),
    }
    env.pop("GITHUB_OUTPUT", None)
    command = [
        str(images.PRODUCT_PYTHON),
        "-m",
        "scripts.pipeline",
        "--source",
        "local",
        "--model",
        str(model),
        "--dest",
        str(workdir / f"model-{time.monotonic_ns()}"),
        "--image-name",
        f"{registry['MODELSHIP_TEST_REGISTRY']}/bench/{model.name}",
        "--base-image",
        base_image,
        "--username",
        registry["MODELSHIP_TEST_REGISTRY_USER"],
        *(["--skip-scan"] if skip_scan else []),
    ]
    started = time.perf_counter()
    with log.open("ab") as log_file:
        done = subprocess.run(
            command, cwd=PROJECT_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT, check=False
        )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "exit_code": done.returncode, "steps": step_times(summary.read_text("utf-8"))}


def remove_descendants(base_image: str) -> None:
    """Remove the images built on `base_image` (its copy is bench's own): the build cache of that base."""
    base_id = images.docker("image", "inspect", "--format", "{{.Id}}", base_image).strip()
    every = sorted(set(images.docker("images", "-a", "-q", "--no-trunc").split()))
    listed = images.docker("image", "inspect", "--format", "{{.Id}} {{.Parent}}", *every).splitlines()
    parents = {line.split(" ")[0]: line.partition(" ")[2].strip() for line in listed if line.strip()}
    doomed = set()
    for image_id in parents:
        seen, current = [], image_id
        while current and current != base_id and current not in doomed:
            seen.append(current)
            current = parents.get(current, "")
        if current == base_id or current in doomed:
            doomed.update(seen)
    for image_id in doomed:
        subprocess.run(["docker", "rmi", "--force", image_id], capture_output=True, check=False)


def cold_engine_run(
    model: Path, base_image: str, registry: dict[str, str], workdir: Path, log: Path, skip_scan: bool
) -> dict[str, Any]:
    """The engine loses every image built on the base (the registry keeps the pushed one); a new
    model.onnx is then delivered: the build pulls the pushed image and reuses its layers."""
    ref = f"{registry['MODELSHIP_TEST_REGISTRY']}/bench/{model.name}:1"
    pushed = images.layers(ref)
    remove_descendants(base_image)
    images.remove_older(ref.rsplit(":", 1)[0], keep="")
    variant = images.variant_model(model, workdir / "variant" / model.name, "cold-engine")
    measured = run_pipeline(variant, base_image, registry, workdir, log, skip_scan)
    rebuilt = images.layers(ref) if measured["exit_code"] == 0 else []
    shared = 0
    while shared < min(len(pushed), len(rebuilt)) and pushed[shared] == rebuilt[shared]:
        shared += 1
    return {**measured, "layers_total": len(rebuilt), "layers_rebuilt": len(rebuilt) - shared}


def measure(model: Path, base_image: str, log: Path, skip_scan: bool) -> dict[str, Any]:
    """Cold (a base image id the build cache has never seen), warm (the same run again), then a new
    model on a cold engine whose registry kept the last push (build cache pulled from there)."""
    cold_base = images.fresh_base(base_image)
    repository = ""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        workdir = Path(scratch)
        try:
            with private_registry(workdir / "registry") as registry:
                repository = f"{registry['MODELSHIP_TEST_REGISTRY']}/bench/{model.name}"
                cold = run_pipeline(model, cold_base, registry, workdir, log, skip_scan)
                warm = run_pipeline(model, cold_base, registry, workdir, log, skip_scan)
                registry_cache = cold_engine_run(model, cold_base, registry, workdir, log, skip_scan)
        finally:
            # Only what these runs built: the images in the private registry's repository, then the base copy.
            if repository:
                images.remove_older(repository, keep="")
            subprocess.run(["docker", "rmi", cold_base], capture_output=True, check=False)
    scan = "skipped (--skip-scan)" if skip_scan else "the stand-in grype of tests/fakes (clean report)"
    return {
        "cold": cold,
        "warm": warm,
        "registry_cache": registry_cache,
        "scan": scan,
        "image": repository,
        "log": str(log),
    }
