"""Time the local pipeline (python -m scripts.pipeline) end to end, against a private local registry."""

from __future__ import annotations

import json
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


def read_result(path: Path) -> dict[str, Any]:
    """The pipeline's verdict, scanner and each step's verdict and seconds, from its --result-json, and
    of a multi-arch run the arm64/amd64 size ratio (build) and the platforms the tag resolved to (push)."""
    if not path.is_file():  # the pipeline stopped before writing it (a usage error): nothing to read
        return {
            "verdict": None,
            "scanner": None,
            "steps": {},
            "arm64-size-ratio": None,
            "resolved-platforms": None,
        }
    result = json.loads(path.read_text(encoding="utf-8"))
    outputs = {step["name"]: step.get("outputs") or {} for step in result["steps"]}
    return {
        "verdict": result["verdict"],
        "scanner": result["scanner"],
        "steps": {
            step["name"]: {"verdict": step["verdict"], "seconds": step["seconds"]} for step in result["steps"]
        },
        "arm64-size-ratio": outputs.get("build", {}).get("arm64-size-ratio"),
        "resolved-platforms": outputs.get("push", {}).get("resolved-platforms"),
    }


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
    """One pipeline run; wall-clock seconds, exit code, the scanner that ran and per-step times."""
    run_id = time.monotonic_ns()
    result_json = workdir / f"result-{run_id}.json"
    env = {
        **os.environ,
        "REGISTRY_PASSWORD": registry["MODELSHIP_TEST_REGISTRY_PASSWORD"],
        # The real grype and syft on grype-testdb's offline database (no feed on this machine): the
        # scan's real work (SBOM, matching) is timed, against 3 advisories, not grype's full database.
        **scanners.offline_test_database(workdir / "grype-db"),
    }
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    command = [
        str(images.PRODUCT_PYTHON),
        "-m",
        "scripts.pipeline",
        "--source",
        "local",
        "--model",
        str(model),
        "--dest",
        str(workdir / f"model-{run_id}"),
        "--result-json",
        str(result_json),
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
    return {"seconds": seconds, "exit_code": done.returncode, **read_result(result_json)}


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
    scan = "skipped (--skip-scan)" if skip_scan else cold["scanner"] or "did not run (see the log)"
    return {
        "cold": cold,
        "warm": warm,
        "registry_cache": registry_cache,
        "scan": scan,
        "image": repository,
        "log": str(log),
    }
