"""What the comparison apps share: open the model with one onnxruntime thread, map columns to graph inputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime

DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


@dataclass(frozen=True)
class GraphInput:
    """One graph input: its name, numpy dtype and rank (1: [None], 2: [None, 1])."""

    name: str
    dtype: Any
    rank: int

    def array(self, values: Sequence[Any]) -> np.ndarray:
        """One column of values as the array this input takes."""
        column = np.asarray(values, dtype=self.dtype)
        return column.reshape(-1, 1) if self.rank == 2 else column


def open_model() -> tuple[onnxruntime.InferenceSession, list[GraphInput], str]:
    """The session for $BENCH_MODEL ($BENCH_ORT_THREADS threads, default 1), its inputs and first output."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("BENCH_ORT_THREADS", "1"))
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        os.environ["BENCH_MODEL"], options, providers=["CPUExecutionProvider"]
    )
    inputs = [GraphInput(i.name, DTYPES[i.type], len(i.shape)) for i in session.get_inputs()]
    return session, inputs, session.get_outputs()[0].name
