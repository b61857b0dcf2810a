"""Sample requests made from a model's input signature (its /metadata), so any model gets tested (pure)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from serving.v2 import element_datatype

SAMPLE_TEXTS = (
    "modelship smoke test sample",
    "The quick brown fox jumps over the lazy dog",
    "containers make models portable",
    "an ordinary sentence",
)
UNKNOWN_COLUMN = "modelship_unknown_column"


@dataclass(frozen=True)
class Input:
    """One graph input: name, ONNX element type ("float", "int64", "string"...) and shape (None = any)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None

    @property
    def row_dims(self) -> tuple[int, ...]:
        """The shape of one row's value: the dims after the batch dim (unknown ones = 1, [N, 1] = scalar)."""
        dims = tuple(1 if d is None else d for d in (self.shape or (None,))[1:])
        return () if dims in ((), (1,)) else dims

    @property
    def v2_datatype(self) -> str:
        """The Open Inference Protocol datatype serving gives this input (FP32 for a type it has none for)."""
        return element_datatype(self.dtype) or "FP32"


@dataclass(frozen=True)
class Signature:
    """What a request must carry: the graph inputs, the column names, and whether rows feed one matrix."""

    inputs: tuple[Input, ...]
    columns: tuple[str, ...]
    matrix: bool

    @property
    def width(self) -> int:
        """Values per row in matrix mode."""
        if self.columns:
            return len(self.columns)
        shape = self.inputs[0].shape
        return shape[1] if shape and len(shape) == 2 and shape[1] is not None else 1

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes to send: 1 and 3, or the one a fixed batch dimension allows."""
        fixed = {i.shape[0] for i in self.inputs if i.shape and i.shape[0] is not None}
        return (min(fixed),) if fixed else (1, 3)


@dataclass(frozen=True)
class Payload:
    """A named JSON request body."""

    name: str
    body: Any


@dataclass(frozen=True)
class BadPayload:
    """A request the server must refuse with a 4xx: raw bytes and the content type they are sent with."""

    name: str
    data: bytes
    content_type: str


def signature(metadata: dict[str, Any]) -> Signature:
    """Read the signature from a /metadata body (inputs; columns and input_mode when present)."""
    inputs = tuple(
        Input(
            str(i["name"]),
            str(i.get("dtype") or "float"),
            None
            if i.get("shape") is None
            else tuple(d if isinstance(d, int) and d >= 0 else None for d in i["shape"]),
        )
        for i in metadata.get("inputs") or []
    )
    if not inputs:
        raise ValueError("the model metadata lists no inputs")
    mode = metadata.get("input_mode")
    first = inputs[0].shape
    matrix = (
        mode == "matrix"
        if mode is not None
        else len(inputs) == 1 and first is not None and len(first) == 2 and first[1] != 1
    )
    columns = tuple(metadata.get("columns") or ()) if matrix else tuple(i.name for i in inputs)
    return Signature(inputs, columns, matrix)


def scalar(dtype: str, row: int, column: int) -> Any:
    """A deterministic value of an ONNX element type for one cell."""
    if dtype == "string":
        return SAMPLE_TEXTS[(row + column) % len(SAMPLE_TEXTS)]
    if dtype == "bool":
        return (row + column) % 2 == 0
    if dtype.startswith(("int", "uint")):
        return (row + 2 * column) % 5
    return round(0.5 + 0.75 * row + 0.125 * column, 4)


def tensor(dtype: str, dims: tuple[int, ...], row: int, column: int) -> Any:
    """A nested list of shape `dims` (a bare value for no dims) with deterministic values."""
    if not dims:
        return scalar(dtype, row, column)
    size = math.prod(dims[1:])
    return [tensor(dtype, dims[1:], row, column + k * size) for k in range(dims[0])]


def flatten(value: Any) -> list[Any]:
    """The leaves of a nested list, in order."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


def matrix_rows(sig: Signature, rows: int) -> list[list[Any]]:
    """Rows of values for a single 2-D input."""
    dtype = sig.inputs[0].dtype
    return [[scalar(dtype, r, c) for c in range(sig.width)] for r in range(rows)]


def records(sig: Signature, rows: int) -> list[dict[str, Any]]:
    """One {column: value} record per row."""
    if sig.matrix:
        return [dict(zip(sig.columns, row, strict=True)) for row in matrix_rows(sig, rows)]
    return [
        {i.name: tensor(i.dtype, i.row_dims, r, c) for c, i in enumerate(sig.inputs)} for r in range(rows)
    ]


def predict_payloads(sig: Signature) -> list[Payload]:
    """/predict bodies in several accepted forms, one per batch size."""
    payloads = []
    for rows in sig.batch_sizes:
        if sig.matrix and not sig.columns:
            payloads.append(Payload(f"rows-{rows}", matrix_rows(sig, rows)))
            continue
        table = records(sig, rows)
        payloads.append(Payload(f"records-{rows}", table))
        if sig.matrix:
            payloads.append(
                Payload(f"split-{rows}", {"columns": list(sig.columns), "data": matrix_rows(sig, rows)})
            )
        elif len(sig.inputs) == 1 and not sig.inputs[0].row_dims:
            payloads.append(Payload(f"values-{rows}", [record[sig.inputs[0].name] for record in table]))
        else:
            payloads.append(Payload(f"columns-{rows}", {c: [r[c] for r in table] for c in sig.columns}))
    return payloads


def invocations_payloads(sig: Signature) -> list[Payload]:
    """MLflow /invocations bodies (dataframe_split or dataframe_records), one per batch size."""
    payloads = []
    for rows in sig.batch_sizes:
        if sig.matrix and not sig.columns:
            payloads.append(Payload(f"instances-{rows}", {"instances": matrix_rows(sig, rows)}))
        elif sig.matrix:
            split = {"columns": list(sig.columns), "data": matrix_rows(sig, rows)}
            payloads.append(Payload(f"dataframe-split-{rows}", {"dataframe_split": split}))
        else:
            payloads.append(Payload(f"dataframe-records-{rows}", {"dataframe_records": records(sig, rows)}))
    return payloads


def v2_payloads(sig: Signature) -> list[Payload]:
    """Open Inference Protocol infer requests, one per batch size (fixed ids, so answers compare)."""
    payloads = []
    for rows in sig.batch_sizes:
        if sig.matrix:
            spec = sig.inputs[0]
            tensors = [
                {
                    "name": spec.name,
                    "shape": [rows, sig.width],
                    "datatype": spec.v2_datatype,
                    "data": flatten(matrix_rows(sig, rows)),
                }
            ]
        else:
            table = records(sig, rows)
            tensors = []
            for spec in sig.inputs:
                dims = list(1 if d is None else d for d in spec.shape[1:]) if spec.shape else []
                tensors.append(
                    {
                        "name": spec.name,
                        "shape": [rows, *dims],
                        "datatype": spec.v2_datatype,
                        "data": flatten([r[spec.name] for r in table]),
                    }
                )
        payloads.append(Payload(f"v2-{rows}", {"id": f"modelship-smoke-{rows}", "inputs": tensors}))
    return payloads


def wrong_type_value(dtype: str) -> Any:
    """A value of the wrong JSON type for an input of `dtype`."""
    return 12345 if dtype == "string" else "not-a-number"


def bad_payloads(sig: Signature) -> list[BadPayload]:
    """Requests to refuse with a clean 4xx: not JSON, wrong content type, bad column, bad type, empty."""
    good = json.dumps(predict_payloads(sig)[0].body).encode()
    if sig.matrix and not sig.columns:
        row = matrix_rows(sig, 1)[0]
        unknown: Any = [[*row, row[0]]]
        wrong: Any = [[wrong_type_value(sig.inputs[0].dtype), *row[1:]]]
    else:
        record = records(sig, 1)[0]
        unknown = [{**record, UNKNOWN_COLUMN: record[sig.columns[0]]}]
        first = sig.columns[0]
        dtype = sig.inputs[0].dtype
        wrong = [{**record, first: wrong_type_value(dtype)}]
    as_json = "application/json"
    return [
        BadPayload("not-json", b'{"this is": not json', as_json),
        BadPayload("wrong-content-type", good, "text/plain"),
        BadPayload("unknown-column", json.dumps(unknown).encode(), as_json),
        BadPayload("wrong-type", json.dumps(wrong).encode(), as_json),
        BadPayload("empty-batch", b"[]", as_json),
    ]


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
