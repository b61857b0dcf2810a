"""`make bench`: modelship's serving speed, image size, cold start, rebuild and pipeline time, side by side.

Serving: modelship's image (on the host network), MLflow's scoring server (1 and 2 workers), a textbook
Flask + gunicorn app and a bare ASGI app, all on the same model and machine, loaded by wrk in interleaved
rounds; plus the in-process ceiling. Then the image figures and the local pipeline. Prints the tables and
writes them, with the raw figures, the machine's core count and the versions, under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import ceiling, images, load, payloads, pipeline, report, servers
from bench.apps.onnx_feed import DTYPES
from serving.config import Settings

PROJECT_DIR = servers.PROJECT_DIR
EXAMPLES = PROJECT_DIR / "examples"
DEFAULT_BASE = "modelship/python-base:3.11-bookworm"
# modelship: the image's defaults (the access log logs refusals, errors and slow requests only);
# modelship-all: the same image with MODELSHIP_ACCESS_LOG=all, a line per request on stdout;
# modelship-logfile: MODELSHIP_ACCESS_LOG=all appended to a file on a mounted directory instead;
# modelship-nobatch: MODELSHIP_BATCHING=off; modelship-nodelay: MODELSHIP_MAX_BATCH_DELAY_MS=0 (a busy
# worker does not wait for company); modelship-1w: one worker using both cores in onnxruntime;
# flask-tokenize: the seed's way for a transformer.
# mlflow-Nw get the pandas table as MLflow's `dataframe_split`; mlflow-2w-tensors gets tensors instead.
ALL_SERVERS = (
    "modelship",
    "modelship-all",
    "modelship-logfile",
    "mlflow-1w",
    "mlflow-2w",
    "mlflow-2w-tensors",
    "flask-gunicorn",
    "bare-asgi",
    "modelship-nobatch",
    "modelship-nodelay",
    "modelship-1w",
    "flask-tokenize",
)
# The image's settings behind each modelship variant that is not about the access log, and its workers
# (None: --workers). modelship-1w leaves MODELSHIP_ORT_THREADS at its default, the cores / workers.
MODELSHIP_SETTINGS: dict[str, tuple[dict[str, str], int | None]] = {
    "modelship-nobatch": ({"MODELSHIP_BATCHING": "off"}, None),
    "modelship-nodelay": ({"MODELSHIP_MAX_BATCH_DELAY_MS": "0"}, None),
    "modelship-1w": ({}, 1),
}
BATCHING_SERVERS = ("modelship", "modelship-nodelay", "modelship-1w")  # checked against issue 15's targets
# (servers, connection counts, batch sizes) per model. The second model gets a smaller matrix so the
# whole run stays near 20 minutes: 16 connections only, without MLflow's 1 worker and Flask.
MATRIX: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]] = {
    "housing": (ALL_SERVERS, (16, 1), (1, 32)),
    "sentiment": (
        ("modelship", "modelship-all", "modelship-logfile", "mlflow-2w", "mlflow-2w-tensors", "bare-asgi"),
        (16,),
        (1, 32),
    ),
    # The transformer: one text per request (the seed's exchange), where dynamic batching matters.
    "minilm-sentiment": (
        ("modelship", "modelship-nobatch", "modelship-nodelay", "modelship-1w", "flask-tokenize"),
        (1, 8, 32),
        (1,),
    ),
}
TEXT_CEILING_BATCH = 32  # the transformer's in-process ceiling: onnxruntime on batches of 32 texts
PARTS = ("serving", "images", "pipeline")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options; the defaults are the issue's."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (default 15)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of every wrk run (default 2)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, once; fewer cold starts and rebuilds")
    parser.add_argument(
        "--workers", type=int, default=2, help="workers of every server but MLflow's 1w (default 2)"
    )
    parser.add_argument(
        "--models",
        default="housing,sentiment,minilm-sentiment",
        help="bundled models (default housing,sentiment,minilm-sentiment)",
    )
    parser.add_argument("--skip", default="", help=f"parts to leave out, comma-separated: {', '.join(PARTS)}")
    parser.add_argument(
        "--servers", default="", help="only these servers, comma-separated (default: each model's matrix)"
    )
    parser.add_argument("--base-image", default=DEFAULT_BASE, help=f"base image (default {DEFAULT_BASE})")
    parser.add_argument("--skip-scan", action="store_true", help="pipeline without its scan step")
    parser.add_argument("--results-dir", type=Path, default=PROJECT_DIR / "bench" / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.repeats = 3, 1
    args.models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in args.models if name not in MATRIX]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MATRIX)}")
    args.skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in args.servers if name not in ALL_SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(ALL_SERVERS)}")
    if args.skip - set(PARTS):
        parser.error(f"--skip takes {', '.join(PARTS)}, not {', '.join(sorted(args.skip - set(PARTS)))}")
    return args


def progress(message: str, started: float = time.monotonic()) -> None:
    """A progress line with the minutes since the benchmark started."""
    print(f"[{(time.monotonic() - started) / 60:5.1f} min] {message}", flush=True)


def machine() -> dict[str, Any]:
    """Core count, CPU, kernel and the versions of everything measured."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout.split(
        "\n"
    )[0]
    pins = (PROJECT_DIR / "requirements" / "serving.txt").read_text(encoding="utf-8").splitlines()
    bench_packages = ("mlflow", "flask", "gunicorn", "pandas", "onnxruntime", "numpy", "uvicorn", "orjson")
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": images.docker("version", "--format", "{{.Server.Version}}"),
        "wrk": wrk.split(" [")[0],
        "bench": {name: metadata.version(name) for name in bench_packages},
        # The lock's requirement lines: `name==version \` (its hashes follow on lines of their own).
        "modelship_serving": dict(
            line.split()[0].split("==") for line in pins if "==" in line and not line.startswith("#")
        ),
        "load_average_at_start": os.getloadavg(),
    }


def batch_delay_ms(server: str) -> float:
    """The batch delay a modelship server runs with: its own setting, else the image's default."""
    settings = MODELSHIP_SETTINGS.get(server, ({}, None))[0]
    return float(settings.get("MODELSHIP_MAX_BATCH_DELAY_MS", Settings.max_batch_delay_ms))


def server_for(
    name: str, model: str, image: str, mlflow_dir: Path, workers: int, body: bytes, logs: Path
) -> AbstractContextManager[servers.Running]:
    """The context manager that runs one of ALL_SERVERS for `model`."""
    onnx_file = EXAMPLES / model / "model.onnx"
    log = logs / f"{model}-{name}.log"
    if name in MODELSHIP_SETTINGS:
        settings, own_workers = MODELSHIP_SETTINGS[name]
        return servers.modelship_container(image, own_workers or workers, body, log, settings=settings)
    if name.startswith("modelship"):
        access_log = {"modelship": "default", "modelship-all": "all", "modelship-logfile": "file"}[name]
        return servers.modelship_container(image, workers, body, log, access_log)
    if name.startswith("mlflow-"):
        workers = int(name.split("-")[1].removesuffix("w"))
        return servers.mlflow_server(name, mlflow_dir, workers, body, log, onnx_file)
    return servers.bench_app(name, onnx_file, workers, body, log)


def save_mlflow_model(model: str, dest: Path) -> Path:
    """The bundled ONNX model saved with mlflow.onnx (what `mlflow models serve` loads), with the input
    signature read off the graph, as MLflow asks for: it is what lets a DataFrame feed rank-2 inputs."""
    import mlflow.onnx
    import numpy as np
    import onnx
    import onnxruntime
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    onnx_file = EXAMPLES / model / "model.onnx"
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    inputs = Schema(
        [
            TensorSpec(
                np.dtype(DTYPES[node.type]),
                tuple(d if isinstance(d, int) else -1 for d in node.shape),
                node.name,
            )
            for node in session.get_inputs()
        ]
    )
    mlflow.onnx.save_model(onnx.load(str(onnx_file)), str(dest), signature=ModelSignature(inputs))
    return dest


def server_names(args: argparse.Namespace, model: str) -> tuple[str, ...]:
    """The servers of the model's matrix, narrowed to --servers when given."""
    return tuple(name for name in MATRIX[model][0] if not args.servers or name in args.servers)


def rounds(args: argparse.Namespace, model: str) -> Iterator[tuple[int, int, int, str]]:
    """(round, connections, batch, server) in interleaved order: every server once per setting per round."""
    _, connection_counts, batches = MATRIX[model]
    names = server_names(args, model)
    for round_number in range(args.repeats):
        for connections in connection_counts:
            for batch in batches:
                for name in names:
                    yield round_number, connections, batch, name


def bench_serving(
    args: argparse.Namespace, model: str, image: str, scratch: Path, logs: Path
) -> dict[str, Any]:
    """The in-process ceiling, then every server of the model's matrix under wrk."""
    table = payloads.load_table(EXAMPLES / model)
    text = payloads.is_text_model(EXAMPLES / model)
    names, batches = server_names(args, model), MATRIX[model][2]
    result: dict[str, Any] = {"ceiling": {}, "runs": []}
    for batch in (TEXT_CEILING_BATCH,) if text else batches:
        calls = ceiling.ceiling(
            EXAMPLES / model / "model.onnx",
            table,
            batch,
            min(args.duration, 5),
            len(os.sched_getaffinity(0)),
            text,
        )
        result["ceiling"][batch] = calls
        progress(f"{model}: in-process ceiling, batch {batch}: {calls:,.0f} calls/s")
    bodies: dict[tuple[str, int], Path] = {}
    for batch in batches:
        for kind, make in (
            ("columns", payloads.texts_body if text else payloads.columns_body),
            ("mlflow", payloads.mlflow_split_body),
            ("tensors", payloads.mlflow_tensors_body),
        ):
            bodies[kind, batch] = scratch / f"{model}-{kind}-{batch}.json"
            bodies[kind, batch].write_bytes(make(table, batch))

    def body_for(name: str, batch: int) -> Path:
        if name.startswith("mlflow-"):
            return bodies["tensors" if name.endswith("-tensors") else "mlflow", batch]
        return bodies["columns", batch]

    mlflow_dir = (
        save_mlflow_model(model, scratch / f"mlflow-{model}")
        if any("mlflow" in n for n in names)
        else scratch
    )
    with ExitStack() as stack:
        running = {}
        for name in names:
            progress(f"{model}: starting {name}")
            running[name] = stack.enter_context(
                server_for(name, model, image, mlflow_dir, args.workers, body_for(name, 1).read_bytes(), logs)
            )
            load.run_wrk(
                running[name].url, body_for(name, 1), 16, min(args.duration, 2)
            )  # warm-up, not counted
        for round_number, connections, batch, name in rounds(args, model):
            load_average = os.getloadavg()[0]
            pids = running[name].processes()
            before = servers.cpu_seconds(pids)
            measured = load.run_wrk(running[name].url, body_for(name, batch), connections, args.duration)
            cpu_us = servers.cpu_used(before, servers.cpu_seconds(pids)) / max(measured.requests, 1) * 1e6
            rss_mb = servers.rss_bytes(running[name].processes()) / 1e6
            progress(
                f"{model} round {round_number + 1}: {name:<17} c{connections:<2} b{batch:<2} "
                f"{measured.requests_per_s:>9,.0f} req/s  p99 {measured.p99_ms:7.2f} ms  "
                f"{cpu_us:6.0f} µs CPU/req  {rss_mb:5.0f} MB  errors {measured.errors}"
            )
            result["runs"].append(
                {
                    "server": name,
                    "connections": connections,
                    "batch": batch,
                    "round": round_number + 1,
                    "load_average_1m": load_average,
                    "server_cpu_us_per_request": cpu_us,
                    "server_rss_mb": rss_mb,
                    **measured.as_dict(),
                }
            )
    return result


def bench_images(
    args: argparse.Namespace, built: dict[str, images.Built], scratch: Path, logs: Path
) -> dict[str, Any]:
    """Sizes, cold starts, and the rebuild after a model-only change."""
    base_size = images.size_bytes(args.base_image)
    result: dict[str, Any] = {"base_image": args.base_image, "base_size_bytes": base_size, "models": {}}
    for model, image in built.items():
        size = images.size_bytes(image.ref)
        steps = [entry for entry in images.history(image.ref) if entry["Size"] not in ("0B", "0")]
        progress(f"{model}: image {size / 1e6:.1f} MB; measuring cold start")
        result["models"][model] = {
            "image": image.ref,
            "size_bytes": size,
            "added_to_base_bytes": size - base_size,
            "layers": [{"instruction": entry["Instruction"][:100], "size": entry["Size"]} for entry in steps],
            "cold_start": images.median_cold_start(image.ref, 2 if args.quick else 5),
        }
    model = next(iter(built))
    rebuilds = []
    variant_ids = []
    try:
        # A fresh build of the unchanged model first: the comparison must not see other changes to the tree.
        prime = images.build(
            EXAMPLES / model, f"bench-modelship/{model}", args.base_image, scratch, logs / "rebuild.log"
        )
        for attempt in range(1 if args.quick else 3):
            source = images.variant_model(
                EXAMPLES / model, scratch / f"variant-{attempt}", f"{time.time_ns()}"
            )
            variant = images.build(
                source, f"bench-modelship/{model}-rebuild", args.base_image, scratch, logs / "rebuild.log"
            )
            variant_ids.append(variant.image_id)
            rebuilds.append(variant.seconds)
            progress(f"{model}: model-only rebuild {attempt + 1}: {variant.seconds:.1f} s")
        result["rebuild"] = {
            "model": model,
            "median_s": statistics.median(rebuilds),
            "samples_s": rebuilds,
            "measured": "python -m scripts.build, after fetching a model whose doc string changed",
            "changed": images.changed_steps(prime.image_id, variant_ids[0]),
        }
    finally:
        for image_id in variant_ids:
            subprocess.run(["docker", "rmi", "--force", image_id], capture_output=True, check=False)
    return result


def guarded(name: str, failures: list[str], work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)`; a failure is recorded (and fails the benchmark) without losing the other parts."""
    try:
        return work(*args)
    except (RuntimeError, subprocess.SubprocessError, OSError) as error:
        failures.append(f"{name}: {error}")
        progress(f"❌ {name} failed: {error}")
        return None


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    """The report: the serving table, then every target and figure."""
    serving = results.get("serving") or {}
    rows = report.serving_rows(serving, ALL_SERVERS)
    targets = [
        target
        for model in serving
        for server in report.MODELSHIP_VARIANTS
        for target in report.serving_targets(rows, model, server)
    ]
    targets += [
        target
        for model in serving
        for server in BATCHING_SERVERS
        for target in report.transformer_targets(rows, model, server, batch_delay_ms(server))
    ]
    targets += report.other_targets(results.get("images") or {}, results.get("pipeline"))
    targets += report.image_figures(results.get("images") or {}, results.get("pipeline"))
    info = results["machine"]
    head = (
        f"modelship benchmark, {info['cores']} cores ({info['cpu']}), load average at start "
        f"{info['load_average_at_start'][0]:.1f}; wrk {args.duration} s x {args.repeats}, "
        f"{args.workers} workers"
    )
    tables = [report.serving_table(rows)] if rows else []
    return "\n\n".join([f"## {head}", *tables, report.targets_table(targets)])


def main(argv: list[str] | None = None) -> int:
    """Run every part, print the tables, write the results; 1 when a run had errors or a part failed."""
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    args.results_dir.mkdir(parents=True, exist_ok=True)
    logs = args.results_dir / f"logs-{stamp}"
    logs.mkdir()
    failures: list[str] = []
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {**vars(args), "skip": sorted(args.skip), "results_dir": str(args.results_dir)},
    }
    progress(
        f"{results['machine']['cores']} cores, load average {results['machine']['load_average_at_start']}"
    )
    with tempfile.TemporaryDirectory(prefix="modelship-bench-") as temporary:
        scratch = Path(temporary)
        built: dict[str, images.Built] = {}
        if {"serving", "images"} - args.skip:
            for model in args.models:
                progress(f"{model}: building the serving image with scripts.fetch + scripts.build")
                image = guarded(
                    f"{model} build",
                    failures,
                    images.build,
                    EXAMPLES / model,
                    f"bench-modelship/{model}",
                    args.base_image,
                    scratch,
                    logs / "build.log",
                )
                if image:
                    built[model] = image
                    images.remove_older(f"bench-modelship/{model}", image.image_id)
        if "serving" not in args.skip:
            results["serving"] = {
                model: guarded(
                    f"{model} serving", failures, bench_serving, args, model, built[model].ref, scratch, logs
                )
                for model in built
            }
        if "images" not in args.skip and built:
            results["images"] = guarded("images", failures, bench_images, args, built, scratch, logs)
        if "pipeline" not in args.skip:
            progress("pipeline: cold cache, warm, then a new model on an empty engine with the registry kept")
            model_dir = EXAMPLES / args.models[0]
            pipeline_log = logs / "pipeline.log"
            measured = guarded(
                "pipeline",
                failures,
                pipeline.measure,
                model_dir,
                args.base_image,
                pipeline_log,
                args.skip_scan,
            )
            results["pipeline"] = measured
            for run in ("cold", "warm", "registry_cache"):
                if measured and measured[run]["exit_code"] != 0:
                    failures.append(
                        f"pipeline ({run}) exited {measured[run]['exit_code']}; see {pipeline_log}"
                    )
    errors = [
        run
        for serving in (results.get("serving") or {}).values()
        if serving
        for run in serving["runs"]
        if run["errors"]
    ]
    failures += [
        f"{run['server']} c{run['connections']} b{run['batch']}: {run['errors']} errors" for run in errors
    ]
    text = render(results, args)
    results["failures"] = failures
    (args.results_dir / f"bench-{stamp}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.results_dir / f"bench-{stamp}.md").write_text(text + "\n", encoding="utf-8")
    print("\n" + text + "\n")
    print(f"results: {args.results_dir / f'bench-{stamp}.json'} (raw), .md (tables); server logs: {logs}")
    if failures:
        print("❌ the benchmark failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0
