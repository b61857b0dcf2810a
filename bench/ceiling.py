"""The in-process ceiling: InferenceSession.run calls per second, one single-threaded session per core."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import onnxruntime

from bench.apps.onnx_feed import DTYPES, GraphInput
from bench.payloads import Table
from serving.model import load_model, session_options


def single_threaded_session(model: Path) -> onnxruntime.InferenceSession:
    """A CPU session of `model` on one thread with the server's options, as each process of the ceiling
    runs it."""
    return onnxruntime.InferenceSession(str(model), session_options(1), providers=["CPUExecutionProvider"])


def run_rate(
    session: onnxruntime.InferenceSession, feed: dict[str, np.ndarray], seconds: float, chunk: int
) -> float:
    """`run` calls per second on `feed` after one warm-up call, checking the clock every `chunk` calls."""
    output = [session.get_outputs()[0].name]
    session.run(output, feed)
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(chunk):
            session.run(output, feed)
        calls += chunk
    return calls / (time.perf_counter() - started)


def calls_per_second(model: Path, table: Table, batch: int, seconds: float) -> float:
    """How many `run` calls one single-threaded session makes per second on a `batch`-row feed."""
    session = single_threaded_session(model)
    rows = table.batch(batch)
    feed = {
        graph_input.name: GraphInput(graph_input.name, DTYPES[graph_input.type], rank).array(
            [row[index] for row in rows]
        )
        for index, (graph_input, rank) in enumerate(zip(session.get_inputs(), table.ranks, strict=True))
    }
    return run_rate(session, feed, seconds, chunk=100)


def text_calls_per_second(model: Path, table: Table, batch: int, seconds: float) -> float:
    """How many `run` calls one single-threaded session makes per second on `batch` texts, encoded
    beforehand by the server's own model and text encoder (its truncation and padding; the graph alone)."""
    served = load_model(model.parent)  # one intra-op thread, as single_threaded_session
    assert served.text_encoder is not None  # bench.payloads.is_text_model: the folder has a tokenizer.json
    feed = served.text_encoder.encode([row[0] for row in table.batch(batch)])
    return run_rate(served.session, feed, seconds, chunk=1)


def ceiling(
    model: Path, table: Table, batch: int, seconds: float, processes: int, text: bool = False
) -> float:
    """Total `run` calls per second with one process per core, all running at once."""
    measure = text_calls_per_second if text else calls_per_second
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        rates = pool.starmap(measure, [(model, table, batch, seconds)] * processes)
    return sum(rates)
