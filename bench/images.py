"""Image figures: build through the product's own steps, sizes, rebuilt layers, cold start, rebuild time."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from bench.servers import PROJECT_DIR, free_port
from scripts import gha

PRODUCT_PYTHON = PROJECT_DIR / ".venv" / "bin" / "python"


def docker(*args: str) -> str:
    """Run a docker CLI command; its stdout, stripped. RuntimeError with stderr when it fails."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def step(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Run `python -m scripts.<name>` with the product's venv; its outputs. RuntimeError on failure."""
    with tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".outputs") as outputs:
        step_env = {**os.environ, **(env or {}), "GITHUB_OUTPUT": outputs.name}
        step_env.pop("GITHUB_STEP_SUMMARY", None)
        with log.open("ab") as log_file:
            done = subprocess.run(
                [str(PRODUCT_PYTHON), "-m", f"scripts.{name}", *argv],
                cwd=PROJECT_DIR,
                env=step_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"scripts.{name} failed (exit {done.returncode}); its log is {log}")
        return gha.read_outputs(outputs.name)


@dataclass(frozen=True)
class Built:
    """An image built from a model folder, and how long the build step took."""

    image_id: str
    ref: str
    seconds: float


def build(model_source: Path, image_name: str, base_image: str, workdir: Path, log: Path) -> Built:
    """Fetch `model_source` (a folder with model.onnx) and build it with the product's build step."""
    model_dir = workdir / f"fetched-{uuid.uuid4().hex[:8]}"
    step("fetch", ["--source", "local", "--model", str(model_source), "--dest", str(model_dir)], log)
    started = time.perf_counter()
    outputs = step(
        "build", ["--model-dir", str(model_dir), "--image-name", image_name, "--base-image", base_image], log
    )
    return Built(outputs["image-id"], outputs["image"], time.perf_counter() - started)


def remove_older(repository: str, keep: str) -> None:
    """Remove the images of `repository` (bench's own) other than `keep`: earlier runs' builds."""
    found = docker("images", "-q", "--no-trunc", "--filter", f"reference={repository}:*").split()
    for image_id in sorted(set(found) - {keep}):
        subprocess.run(["docker", "rmi", "--force", image_id], capture_output=True, check=False)


def size_bytes(image: str) -> int:
    """The image's uncompressed size, as the engine reports it."""
    return int(docker("image", "inspect", "--format", "{{.Size}}", image))


def layers(image: str) -> list[str]:
    """The image's filesystem layer digests, bottom first."""
    return list(json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)))


def history(image: str) -> list[dict[str, Any]]:
    """`docker history` bottom first: each step's instruction and size; `layer` says if it has content."""
    lines = docker("history", "--no-trunc", "--format", "{{json .}}", image).splitlines()
    steps = [json.loads(line) for line in reversed(lines)]
    for entry in steps:
        created_by = entry["CreatedBy"]
        entry["Instruction"] = created_by.split("#(nop) ", 1)[-1].strip()
    return steps


def changed_steps(old: str, new: str) -> dict[str, Any]:
    """Which filesystem layers differ between two builds, and the Dockerfile steps that were re-run."""
    old_layers, new_layers = layers(old), layers(new)
    shared = 0
    while shared < min(len(old_layers), len(new_layers)) and old_layers[shared] == new_layers[shared]:
        shared += 1
    # The classic builder keeps an image id per step: a step with an id the old build lacks was re-run.
    old_ids = {entry["ID"] for entry in history(old)}
    rerun = [entry for entry in history(new) if entry["ID"] not in old_ids and entry["ID"] != "<missing>"]
    return {
        "layers_total": len(new_layers),
        "layers_rebuilt": len(new_layers) - shared,
        "rerun_steps": [
            {"instruction": entry["Instruction"][:100], "size": entry["Size"]} for entry in rerun
        ],
    }


def variant_model(source: Path, dest: Path, nonce: str) -> Path:
    """A copy of a model folder whose model.onnx differs only in its doc string (a 'new model')."""
    shutil.copytree(source, dest)
    model = onnx.load(str(dest / "model.onnx"))
    model.doc_string = f"bench rebuild {nonce}"
    onnx.save(model, str(dest / "model.onnx"))
    return dest


def get_ready(port: int) -> bool:
    """True when GET /ready answers 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/ready")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def cold_start_seconds(image: str, timeout: float = 60) -> float:
    """Seconds from `docker run` (port published, as users run it) to the first 200 from /ready."""
    port = free_port()
    started = time.perf_counter()
    container = docker("run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", image)
    try:
        while not get_ready(port):
            if time.perf_counter() - started > timeout:
                raise RuntimeError(
                    f"{image} was not ready within {timeout:.0f} s; see `docker logs {container}`"
                )
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        docker("stop", "-t", "10", container)


def median_cold_start(image: str, runs: int) -> dict[str, Any]:
    """Median cold start over `runs` fresh containers."""
    samples = [cold_start_seconds(image) for _ in range(runs)]
    return {"median_s": statistics.median(samples), "samples_s": samples}


def fresh_base(base_image: str) -> str:
    """A copy of the base image with a new id, so nothing in the build cache matches it (a cold build)."""
    tag = f"bench-modelship/base:cold-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-base-") as context:
        Path(context, "Dockerfile").write_text(
            f"FROM {base_image}\nLABEL ai.modelship.bench.cold={tag.rsplit('-', 1)[-1]}\n", encoding="utf-8"
        )
        docker("build", "-q", "-t", tag, context)
    return tag
