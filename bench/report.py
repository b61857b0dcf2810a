"""Pure reporting: summarise repeated runs, compute ratios, check the issue's targets, render the tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

MODELSHIP = "modelship"
MODELSHIP_VARIANTS = ("modelship", "modelship-all", "modelship-logfile")  # access log: default, all, file
NOBATCH = "modelship-nobatch"  # MODELSHIP_BATCHING=off
FLASK_TOKENIZE = "flask-tokenize"  # the seed's way for a transformer
MLFLOW = "mlflow-2w"  # the pandas table as dataframe_split, like every other server
MLFLOW_TENSORS = "mlflow-2w-tensors"  # MLflow's fastest input form
BARE_ASGI = "bare-asgi"
CEILING = "in-process ceiling"
TARGET_CELL = (16, 1)  # the targets are stated for 16 connections, batch 1
BATCH_CELL = (16, 32)


@dataclass(frozen=True)
class Cell:
    """One serving measurement: a model, a server, a number of connections and a batch size."""

    model: str
    server: str
    connections: int
    batch: int


@dataclass(frozen=True)
class Summary:
    """A cell's runs folded into one row (means over the repeats, errors summed)."""

    requests_per_s: float
    rows_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    runs: int
    cpu_us: float | None = None  # the server's CPU time per request, all its processes
    rss_mb: float | None = None  # the server's resident memory at the end of the run, all its processes


def summarise(cell: Cell, runs: list[dict[str, Any]]) -> Summary:
    """Means of the repeated wrk runs of one cell."""
    rate = statistics.mean(run["requests_per_s"] for run in runs)
    return Summary(
        requests_per_s=rate,
        rows_per_s=rate * cell.batch,
        p50_ms=statistics.mean(run["p50_ms"] for run in runs),
        p99_ms=statistics.mean(run["p99_ms"] for run in runs),
        errors=sum(run["errors"] for run in runs),
        runs=len(runs),
        cpu_us=statistics.mean(run["server_cpu_us_per_request"] for run in runs),
        rss_mb=max((run["server_rss_mb"] for run in runs if "server_rss_mb" in run), default=None),
    )


def ceiling_summary(calls_per_s: float, batch: int) -> Summary:
    """The in-process ceiling as a row: calls/s stand for requests/s."""
    return Summary(calls_per_s, calls_per_s * batch, None, None, 0, 1)


def ratio(numerator: Summary | None, denominator: Summary | None) -> float | None:
    """numerator/denominator in requests/s, None when either is missing or zero."""
    if numerator is None or denominator is None or not denominator.requests_per_s:
        return None
    return numerator.requests_per_s / denominator.requests_per_s


def ratios(rows: dict[Cell, Summary], cell: Cell) -> dict[str, float | None]:
    """modelship's throughput over MLflow's (same workers; pandas and tensor bodies), the bare-ASGI app's and
    the in-process ceiling."""

    def other(server: str) -> Summary | None:
        return rows.get(Cell(cell.model, server, cell.connections, cell.batch))

    ours = rows.get(cell)
    return {
        "vs_mlflow": ratio(ours, other(MLFLOW)),
        "vs_mlflow_tensors": ratio(ours, other(MLFLOW_TENSORS)),
        "vs_bare_asgi": ratio(ours, other(BARE_ASGI)),
        "vs_ceiling": ratio(ours, rows.get(Cell(cell.model, CEILING, 0, cell.batch))),
    }


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, with the measured figure."""

    name: str
    measured: str
    goal: str
    met: bool | None  # None: not measured


def check(name: str, value: float | None, goal: str, met: bool, unit: str = "") -> Target:
    """A target line; unmeasured when value is None."""
    if value is None:
        return Target(name, "not measured", goal, None)
    if isinstance(value, int):
        shown = f"{value}{unit}"
    else:
        digits = 2 if value < 10 else 1 if value < 100 else 0
        shown = f"{value:,.{digits}f}{unit}"
    return Target(name, shown, goal, met)


def info(name: str, measured: str) -> Target:
    """A figure without a target."""
    return Target(name, measured, "", None)


def serving_rows(serving: dict[str, Any], order: tuple[str, ...]) -> dict[Cell, Summary]:
    """Every model's runs folded into table rows (by connections, batch, then `order` of servers),
    followed by its in-process ceiling."""
    rows: dict[Cell, Summary] = {}
    for model, measured in serving.items():
        if not measured:
            continue
        grouped: dict[Cell, list[dict[str, Any]]] = {}
        for run in measured["runs"]:
            grouped.setdefault(Cell(model, run["server"], run["connections"], run["batch"]), []).append(run)
        for cell in sorted(grouped, key=lambda c: (-c.connections, c.batch, order.index(c.server))):
            rows[cell] = summarise(cell, grouped[cell])
        for batch, calls in measured["ceiling"].items():
            rows[Cell(model, CEILING, 0, int(batch))] = ceiling_summary(calls, int(batch))
    return rows


def short_step(step: dict[str, str]) -> str:
    """'COPY /opt/modelship/model/ (2.41kB)' for 'COPY dir:<digest> in /opt/modelship/model/'."""
    instruction = step["instruction"]
    return f"{instruction.split(' ', 1)[0]} {instruction.rsplit(' in ', 1)[-1]} ({step['size']})"


def image_figures(images: dict[str, Any], pipeline: dict[str, Any] | None) -> list[Target]:
    """Figures without targets: base size, size added per model, steps re-run, cold pipeline time."""
    figures = []
    if images:
        figures.append(info("base image size", f"{images['base_size_bytes'] / 1e6:.1f} MB"))
        for model, measured in images["models"].items():
            figures.append(
                info(f"{model}: added on top of the base", f"{measured['added_to_base_bytes'] / 1e6:.1f} MB")
            )
        if "rebuild" in images:
            rerun = images["rebuild"]["changed"]["rerun_steps"]
            with_content = [short_step(step) for step in rerun if step["size"] not in ("0B", "0")]
            figures.append(
                info(
                    "model-only change: steps re-run",
                    f"{len(rerun)}, with content: {'; '.join(with_content)}",
                )
            )
    cold = (pipeline or {}).get("cold", {}).get("seconds")
    if cold is not None:
        figures.append(info("local pipeline, cold cache", f"{cold:.1f} s"))
    from_registry = (pipeline or {}).get("registry_cache")
    if from_registry and from_registry.get("exit_code") == 0:
        build = from_registry["steps"].get("build", {}).get("seconds")
        figures.append(
            info(
                "local pipeline, new model on an empty engine, registry kept",
                f"{from_registry['seconds']:.1f} s (build {number(build, 1)} s), "
                f"{from_registry['layers_rebuilt']} of {from_registry['layers_total']} layers rebuilt",
            )
        )
    return figures


def serving_targets(rows: dict[Cell, Summary], model: str, server: str = MODELSHIP) -> list[Target]:
    """Throughput ratios, p99 and batch rows/s of one modelship variant for one model."""
    cell = Cell(model, server, *TARGET_CELL)
    if cell not in rows:
        return []
    found = ratios(rows, cell)
    ours = rows[cell]
    batch = rows.get(Cell(model, server, *BATCH_CELL))
    vs_mlflow, vs_asgi, vs_tensors = found["vs_mlflow"], found["vs_bare_asgi"], found["vs_mlflow_tensors"]
    rows_per_s = batch.rows_per_s if batch else None
    label = f"{model}, {server}"
    return [
        check(f"{label}: req/s / MLflow-2w's, c16 b1", vs_mlflow, "≥ 40x", (vs_mlflow or 0) >= 40, "x"),
        info(f"{label}: req/s / MLflow-2w-tensors', c16 b1", number(vs_tensors, 2) + "x" * bool(vs_tensors)),
        check(f"{label}: req/s / bare ASGI's, c16 b1", vs_asgi, "≥ 0.8x", (vs_asgi or 0) >= 0.8, "x"),
        check(f"{label}: p99 at c16 b1", ours.p99_ms, "≤ 5 ms", (ours.p99_ms or 1e9) <= 5, " ms"),
        check(f"{label}: rows/s at c16 b32", rows_per_s, "≥ 250,000", (rows_per_s or 0) >= 250_000),
    ]


def transformer_targets(
    rows: dict[Cell, Summary], model: str, server: str = MODELSHIP, delay_ms: float = 0.0
) -> list[Target]:
    """Issue 15's targets for a transformer served one text per request by `server` (a batching variant):
    batching against no batching, the in-process ceiling (batches of 32) and the seed's Flask app;
    `delay_ms` is the server's batch delay."""

    def at(name: str, connections: int) -> Summary | None:
        return rows.get(Cell(model, name, connections, 1))

    ours, nobatch, flask, alone = at(server, 32), at(NOBATCH, 32), at(FLASK_TOKENIZE, 32), at(server, 1)
    if ours is None:
        return []
    ceiling = next((s for c, s in rows.items() if c.model == model and c.server == CEILING), None)

    def rows_ratio(other: Summary | None) -> float | None:
        return ours.rows_per_s / other.rows_per_s if other and other.rows_per_s else None

    vs_nobatch, vs_ceiling, vs_flask = rows_ratio(nobatch), rows_ratio(ceiling), rows_ratio(flask)
    one = ratio(alone, at(NOBATCH, 1))
    p99_limit = 2 * alone.p50_ms + delay_ms if alone and alone.p50_ms is not None else None
    label = f"{model}, {server}"
    return [
        check(f"{label}: rows/s / nobatch's, c32", vs_nobatch, "≥ 2x", (vs_nobatch or 0) >= 2, "x"),
        check(
            f"{label}: rows/s / in-process ceiling (b32)", vs_ceiling, "≥ 0.7x", (vs_ceiling or 0) >= 0.7, "x"
        ),
        check(
            f"{label}: p99 at c32 (limit: 2 x p50 at c1 + delay = {number(p99_limit, 1)} ms)",
            ours.p99_ms,
            "≤ 2x single + delay",
            p99_limit is not None and (ours.p99_ms or 1e9) <= p99_limit,
            " ms",
        ),
        check(f"{label}: req/s / nobatch's, c1", one, "≥ 0.95x", (one or 0) >= 0.95, "x"),
        check(f"{label}: rows/s / flask-tokenize's, c32", vs_flask, "≥ 3x", (vs_flask or 0) >= 3, "x"),
    ]


def other_targets(images: dict[str, Any], pipeline: dict[str, Any] | None) -> list[Target]:
    """Image size, cold start, rebuild and pipeline targets."""
    targets = []
    for model, figures in images.get("models", {}).items():
        size_mb = figures["size_bytes"] / 1e6
        targets.append(
            check(f"{model}: image size (uncompressed)", size_mb, "≤ 250 MB", size_mb <= 250, " MB")
        )
        cold = figures.get("cold_start", {}).get("median_s")
        targets.append(check(f"{model}: cold start, median", cold, "≤ 1 s", (cold or 1e9) <= 1, " s"))
    rebuild = images.get("rebuild")
    if rebuild:
        layers = rebuild["changed"]["layers_rebuilt"]
        targets.append(check("model-only change: filesystem layers rebuilt", layers, "1", layers == 1))
        seconds = rebuild["median_s"]
        targets.append(check("model-only rebuild (warm cache), median", seconds, "≤ 5 s", seconds <= 5, " s"))
    warm = (pipeline or {}).get("warm", {}).get("seconds")
    targets.append(check("local pipeline, warm cache", warm, "≤ 60 s", (warm or 1e9) <= 60, " s"))
    return targets


def number(value: float | None, digits: int = 0) -> str:
    """A figure for a table cell; blank when missing."""
    return "" if value is None else f"{value:,.{digits}f}"


RATIO_COLUMNS = ("vs_mlflow", "vs_mlflow_tensors", "vs_bare_asgi", "vs_ceiling")


def serving_table(rows: dict[Cell, Summary]) -> str:
    """The serving results as one Markdown table, modelship rows with their ratios."""
    lines = [
        "| model | server | conns | batch | req/s | rows/s | p50 ms | p99 ms | CPU µs/req | RSS MB | errors "
        "| x MLflow-2w | x MLflow-2w-tensors | x bare-ASGI | x ceiling |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for cell, summary in rows.items():
        found = ratios(rows, cell) if cell.server in MODELSHIP_VARIANTS else {}
        connections = str(cell.connections) if cell.connections else "-"
        rate = number(summary.requests_per_s)
        lines.append(
            f"| {cell.model} | {cell.server} | {connections} | {cell.batch} | {rate} "
            f"| {number(summary.rows_per_s)} | {number(summary.p50_ms, 2)} | {number(summary.p99_ms, 2)} "
            f"| {number(summary.cpu_us)} | {number(summary.rss_mb)} "
            f"| {summary.errors if cell.server != CEILING else ''} | "
            + " | ".join(number(found.get(key), 2) for key in RATIO_COLUMNS)
            + " |"
        )
    return "\n".join(lines)


def targets_table(targets: list[Target]) -> str:
    """Each target with its measured figure and ✅/❌."""
    lines = ["| | figure | measured | target |", "|---|---|--:|---|"]
    for target in targets:
        mark = ("" if not target.goal else "n/a") if target.met is None else "✅" if target.met else "❌"
        lines.append(f"| {mark} | {target.name} | {target.measured} | {target.goal} |")
    return "\n".join(lines)
