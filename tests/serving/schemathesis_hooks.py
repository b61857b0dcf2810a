"""schemathesis hooks for the two request rules JSON Schema cannot state (SCHEMATHESIS_HOOKS=this module).

A schema-valid body may still break them, and the server then rightly answers 400; so positive cases are
made to keep them, and negative cases are left as generated:
- pandas' columns form: every column holds the same row labels (or as many values) as the first;
- an Open Inference Protocol tensor holds as many values as the product of its shape, and every input
  the same number of rows.
"""

from __future__ import annotations

import math
from itertools import cycle, islice
from typing import Any

import schemathesis

MLFLOW_WRAPPERS = ("instances", "inputs")
SPLIT_KEYS = {"columns", "data", "index"}


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """Make a positive case keep the cross-field rules of its body."""
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    if case.path.endswith("/infer"):
        align_tensors(case.body.get("inputs"))
    elif len(case.body) == 1 and next(iter(case.body)) in MLFLOW_WRAPPERS:
        key = next(iter(case.body))
        wrapped = case.body[key]
        if isinstance(wrapped, dict):
            case.body[key] = align_columns(wrapped)
    elif not case.body.keys() & SPLIT_KEYS and not case.body.keys() & {
        "dataframe_split",
        "dataframe_records",
    }:
        case.body = align_columns(case.body)
    return case


def repeat(values: list[Any], n: int) -> list[Any]:
    """`values` cycled to exactly `n` items."""
    return list(islice(cycle(values), n))


def align_columns(columns: dict[str, Any]) -> dict[str, Any]:
    """Every column on the first labelled column's row labels, or the first column's length."""
    labels = next((list(c) for c in columns.values() if isinstance(c, dict)), None)
    first: Any = next(iter(columns.values()), [])
    n = len(labels) if labels is not None else len(first)
    aligned: dict[str, Any] = {}
    for name, column in columns.items():
        values = repeat(list(column.values()) if isinstance(column, dict) else column, n)
        aligned[name] = (
            dict(zip(labels, values, strict=True)) if isinstance(column, dict) and labels else values
        )
    return aligned


def align_tensors(tensors: Any) -> None:
    """Every tensor's data cut (or cycled) to whole rows of its shape, the same number of rows in each."""
    if not isinstance(tensors, list) or not tensors:
        return
    rows = min(max(1, len(t["data"]) // max(1, math.prod(t["shape"][1:]))) for t in tensors)
    for tensor in tensors:
        tensor["shape"] = [rows, *tensor["shape"][1:]]
        tensor["data"] = repeat(tensor["data"], rows * math.prod(tensor["shape"][1:]))
