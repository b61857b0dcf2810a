"""The benchmark's pure parts: every server gets the same rows, the report's ratios and verdicts, and
the pipeline bench's reading of the pipeline's JSON result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import payloads, report
from bench import pipeline as bench_pipeline
from bench import run as run_module
from bench.report import Cell
from scripts import pipeline, scanners

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

GRYPE = scanners.pinned_version("grype")


@pytest.mark.parametrize("model", ["housing", "sentiment"])
@pytest.mark.parametrize("size", [1, 32])
def test_every_body_carries_the_same_rows(model: str, size: int) -> None:
    table = payloads.load_table(EXAMPLES / model)
    columns = json.loads(payloads.columns_body(table, size))
    split = json.loads(payloads.mlflow_split_body(table, size))["dataframe_split"]
    tensors = json.loads(payloads.mlflow_tensors_body(table, size))["inputs"]

    from_columns = [[columns[name][str(i)] for name in table.columns] for i in range(size)]
    from_tensors = [
        [value[0] if isinstance(value, list) else value for value in row]
        for row in zip(*(tensors[name] for name in table.columns), strict=True)
    ]
    assert split["columns"] == table.columns
    assert from_columns == split["data"] == from_tensors
    assert len(from_columns) == size


def run(server: str, requests_per_s: float, batch: int = 1, connections: int = 16) -> dict[str, Any]:
    """One wrk run as bench.run records it."""
    return {
        "server": server,
        "connections": connections,
        "batch": batch,
        "requests_per_s": requests_per_s,
        "p50_ms": 1.0,
        "p99_ms": 4.0,
        "errors": 0,
        "server_cpu_us_per_request": 100.0,
    }


def rows_for(rates: dict[str, list[float]], ceiling: float = 100_000.0) -> dict[Cell, report.Summary]:
    """Table rows for the housing model from a few servers' repeated batch-1 rates."""
    runs = [run(server, rate) for server, repeated in rates.items() for rate in repeated]
    order = tuple(rates)
    return report.serving_rows({"housing": {"runs": runs, "ceiling": {"1": ceiling}}}, order)


def test_ratios_are_means_over_the_rounds() -> None:
    rows = rows_for(
        {
            "modelship": [15_000, 17_000],
            "mlflow-2w": [300, 500],
            "mlflow-2w-tensors": [2_000],
            "bare-asgi": [20_000],
        }
    )
    ratios = report.ratios(rows, Cell("housing", "modelship", 16, 1))
    assert ratios == {
        "vs_mlflow": pytest.approx(40.0),
        "vs_mlflow_tensors": pytest.approx(8.0),
        "vs_bare_asgi": pytest.approx(0.8),
        "vs_ceiling": pytest.approx(0.16),
    }


def test_targets_are_met_or_missed_by_the_measured_ratio() -> None:
    met = report.serving_targets(
        rows_for({"modelship": [16_000], "mlflow-2w": [400], "bare-asgi": [20_000]}), "housing"
    )
    missed = report.serving_targets(
        rows_for({"modelship": [15_000], "mlflow-2w": [400], "bare-asgi": [20_000]}), "housing"
    )
    verdicts = {target.name.split(": ", 1)[1]: (target.measured, target.met) for target in met}
    assert verdicts["req/s / MLflow-2w's, c16 b1"] == ("40.0x", True)
    assert verdicts["req/s / bare ASGI's, c16 b1"] == ("0.80x", True)
    assert verdicts["req/s / MLflow-2w-tensors', c16 b1"] == ("", None)  # not run: shown blank
    missed_verdicts = {target.name.split(": ", 1)[1]: target.met for target in missed}
    assert missed_verdicts["req/s / MLflow-2w's, c16 b1"] is False
    assert missed_verdicts["req/s / bare ASGI's, c16 b1"] is False


def test_only_modelship_rows_carry_ratios_in_the_table() -> None:
    rates = {"modelship": [16_000], "modelship-logfile": [18_000], "mlflow-2w": [400], "bare-asgi": [20_000]}
    table = report.serving_table(rows_for(rates))
    lines = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    assert "| 40.00 |  | 0.80 | 0.16 |" in lines["modelship"]
    assert "| 45.00 |  | 0.90 | 0.18 |" in lines["modelship-logfile"]
    assert lines["mlflow-2w"].endswith("|  |  |  |  |")
    assert lines["in-process ceiling"].startswith("| housing | in-process ceiling | - | 1 | 100,000 |")


def test_transformer_targets_compare_rows_per_second_with_nobatch_the_ceiling_and_flask() -> None:
    runs = [
        run("modelship", 300, connections=32),
        run("modelship-nobatch", 140, connections=32),
        run("flask-tokenize", 120, connections=32),
        run("modelship", 170, connections=1),
        run("modelship-nobatch", 175, connections=1),
    ]
    rows = report.serving_rows(
        {"minilm": {"runs": runs, "ceiling": {"32": 12.5}}},
        ("modelship", "modelship-nobatch", "flask-tokenize"),
    )
    verdicts = {
        t.name.split(": ", 1)[1].split(" (")[0]: t.met for t in report.transformer_targets(rows, "minilm")
    }
    assert verdicts == {
        "rows/s / nobatch's, c32": True,  # 300 / 140
        "rows/s / in-process ceiling": True,  # 300 / 400
        "p99 at c32": False,  # 4 ms > 2 x 1 ms
        "req/s / nobatch's, c1": True,  # 170 / 175 = 0.97
        "rows/s / flask-tokenize's, c32": False,  # 2.5x
    }


def test_transformer_targets_judge_a_batching_variant_with_its_own_delay() -> None:
    runs = [
        run("modelship-delay2ms", 150, connections=32),
        run("modelship-nobatch", 140, connections=32),
        run("modelship-delay2ms", 160, connections=1),
        run("modelship-nobatch", 175, connections=1),
    ]
    names = ("modelship-delay2ms", "modelship-nobatch")
    rows = report.serving_rows({"minilm": {"runs": runs, "ceiling": {}}}, names)
    targets = {t.name: t for t in report.transformer_targets(rows, "minilm", "modelship-delay2ms", 2.0)}
    # p50 at c1 is 1 ms, so the p99 limit is 2 x 1 + the 2 ms delay; the variant's own rows are judged.
    p99 = targets["minilm, modelship-delay2ms: p99 at c32 (limit: 2 x p50 at c1 + delay = 4.0 ms)"]
    assert p99.met
    assert not targets["minilm, modelship-delay2ms: req/s / nobatch's, c1"].met  # 160 / 175 = 0.91
    assert report.transformer_targets(rows, "minilm") == []  # the default server did not run


def test_each_batching_server_is_judged_with_its_own_batch_delay() -> None:
    delays = {server: run_module.batch_delay_ms(server) for server in run_module.BATCHING_SERVERS}
    assert delays == {"modelship": 2.0, "modelship-nodelay": 0.0, "modelship-1w": 2.0}


def test_bench_starts_each_modelship_variant_with_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    started: dict[str, tuple[int, dict[str, str] | None]] = {}

    def modelship_container(
        image: str, workers: int, body: bytes, log: Path, settings: dict[str, str] | None = None
    ) -> None:
        started[log.stem] = (workers, settings)

    monkeypatch.setattr(run_module.servers, "modelship_container", modelship_container)
    for name in run_module.MODELSHIP_SETTINGS:
        run_module.server_for(name, "m", "image", Path("mlflow"), 2, b"{}", Path("logs"))
    assert started == {
        "m-modelship-nobatch": (2, {"MODELSHIP_BATCHING": "off"}),
        "m-modelship-nodelay": (2, {"MODELSHIP_MAX_BATCH_DELAY_MS": "0"}),
        "m-modelship-1w": (1, {}),
    }


def test_a_transformer_gets_the_seed_exchange_as_a_list_of_texts() -> None:
    table = payloads.Table(["text"], [["MLOps is critical for robustness"], ["Containers"]], [1])
    assert json.loads(payloads.texts_body(table, 3)) == [
        "MLOps is critical for robustness",
        "Containers",
        "MLOps is critical for robustness",
    ]


def test_the_pipeline_bench_reads_the_pipelines_json_result(tmp_path: Path) -> None:
    """A result written by scripts.pipeline's own writer, from step records as the pipeline keeps them."""
    scan_outputs = {"verdict": "pass", "grype-version": GRYPE, "database": "vulnerability database v6.0.2"}
    ended = [
        pipeline.StepResult("fetch", 0, 0.5, {"model-dir": "m"}),
        pipeline.StepResult("build", 0, 1.0, {"image": "h:1", "arm64-size-ratio": "1.086"}),
        pipeline.StepResult("scan", 0, 2.0, scan_outputs),
        pipeline.StepResult("push", 1, 0.25),
    ]
    ran = pipeline.outcome(ended, ["fetch", "build", "scan", "push"])
    result_json = pipeline.write_result(tmp_path / "result.json", ran.to_document())
    read = bench_pipeline.read_result(result_json)
    assert (read["verdict"], read["scanner"]) == ("failed", f"grype {GRYPE}; vulnerability database v6.0.2")
    assert read["steps"] == {
        "fetch": {"verdict": "passed", "seconds": 0.5},
        "build": {"verdict": "passed", "seconds": 1.0},
        "scan": {"verdict": "passed", "seconds": 2.0},
        "push": {"verdict": "failed", "seconds": 0.25},
    }
    # a multi-arch build's size ratio; no push, so no resolved platforms
    assert (read["arm64-size-ratio"], read["resolved-platforms"]) == ("1.086", None)


def test_the_pipeline_bench_reads_no_steps_when_the_pipeline_wrote_no_result(tmp_path: Path) -> None:
    assert bench_pipeline.read_result(tmp_path / "missing.json") == {
        "verdict": None,
        "scanner": None,
        "steps": {},
        "arm64-size-ratio": None,
        "resolved-platforms": None,
    }
