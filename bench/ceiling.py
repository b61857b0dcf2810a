"""The in-process ceiling: InferenceSession.run calls per second, one single-threaded session per core."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from bench.apps.onnx_feed import DTYPES, GraphInput
from bench.payloads import Table
from serving.model_folder import TOKENIZER_FILE


def single_threaded_session(model: Path) -> onnxruntime.InferenceSession:
    """A CPU session of `model` on one thread, as each process of the ceiling runs it."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


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


def token_feed(model: Path, session: onnxruntime.InferenceSession, texts: list[str]) -> dict[str, np.ndarray]:
    """A transformer's feeds for `texts`, tokenized once with the tokenizer.json beside `model`, padded to
    the longest."""
    tokenizer = Tokenizer.from_file(str(model.with_name(TOKENIZER_FILE)))
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    encodings = tokenizer.encode_batch(texts)
    fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
    names = [graph_input.name for graph_input in session.get_inputs()]
    return {name: np.asarray([getattr(e, fields[name]) for e in encodings], dtype=np.int64) for name in names}


def text_calls_per_second(model: Path, table: Table, batch: int, seconds: float) -> float:
    """How many `run` calls one single-threaded session makes per second on `batch` texts, tokenized
    beforehand (the graph alone)."""
    session = single_threaded_session(model)
    feed = token_feed(model, session, [row[0] for row in table.batch(batch)])
    return run_rate(session, feed, seconds, chunk=1)


def ceiling(
    model: Path, table: Table, batch: int, seconds: float, processes: int, text: bool = False
) -> float:
    """Total `run` calls per second with one process per core, all running at once."""
    measure = text_calls_per_second if text else calls_per_second
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        rates = pool.starmap(measure, [(model, table, batch, seconds)] * processes)
    return sum(rates)
