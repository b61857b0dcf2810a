"""The in-process ceiling: InferenceSession.run calls per second, one single-threaded session per core."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import onnxruntime

from bench.apps.onnx_feed import DTYPES, GraphInput
from bench.payloads import Table


def calls_per_second(model: Path, table: Table, batch: int, seconds: float) -> float:
    """How many `run` calls one single-threaded session makes per second on a `batch`-row feed."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    rows = table.batch(batch)
    feed = {
        graph_input.name: GraphInput(graph_input.name, DTYPES[graph_input.type], rank).array(
            [row[index] for row in rows]
        )
        for index, (graph_input, rank) in enumerate(zip(session.get_inputs(), table.ranks, strict=True))
    }
    output = [session.get_outputs()[0].name]
    session.run(output, feed)
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            session.run(output, feed)
        calls += 100
    return calls / (time.perf_counter() - started)


def ceiling(model: Path, table: Table, batch: int, seconds: float, processes: int) -> float:
    """Total `run` calls per second with one process per core, all running at once."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        rates = pool.starmap(calls_per_second, [(model, table, batch, seconds)] * processes)
    return sum(rates)
