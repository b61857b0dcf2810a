"""The model folder's configuration: modelship.json, provenance.json, and how request columns map to the
graph's inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.errors import ModelError
from serving.payload import type_name
from serving.tensors import ColumnFeed, TensorSpec

COLUMNS_METADATA_KEY = "modelship.columns"


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when the file is absent."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} must hold a JSON object, not {type_name(data)}")
    return data


def declared_columns(config: dict[str, Any], metadata: dict[str, str], where: Path) -> list[str] | None:
    """Column order from modelship.json "columns", else from the ONNX metadata "modelship.columns"."""
    columns: Any = config.get("columns")
    source = f'{where} "columns"'
    if columns is None and COLUMNS_METADATA_KEY in metadata:
        source = f'ONNX metadata "{COLUMNS_METADATA_KEY}"'
        try:
            columns = json.loads(metadata[COLUMNS_METADATA_KEY])
        except ValueError:
            raise ModelError(f"{source} is not a JSON list of column names") from None
    if columns is None:
        return None
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise ModelError(f"{source} must be a non-empty list of column names (strings)")
    if len(set(columns)) != len(columns):
        raise ModelError(f"{source} names a column twice: {columns}")
    return columns


@dataclass(frozen=True)
class InputLayout:
    """How a request's columns reach the graph's inputs."""

    matrix: bool  # one 2-D input fed whole rows, columns in the declared order
    columns: list[str]  # the declared order ([] for a matrix that declares none)
    width: int | None  # values per row (None: any)
    column_feeds: list[ColumnFeed]  # the one-pass path for pandas columns ([] when it does not apply)


def input_layout(
    inputs: list[TensorSpec], config: dict[str, Any], metadata: dict[str, str], where: Path
) -> InputLayout:
    """The layout of `inputs` under the declared columns; a ModelError when they cannot agree."""
    for spec in inputs:
        if spec.dtype is None:
            raise ModelError(
                f"graph input '{spec.name}' has type {spec.onnx_type}, which JSON cannot feed; "
                "export the model with tensor inputs"
            )
    columns = declared_columns(config, metadata, where)
    input_names = [i.name for i in inputs]
    first = inputs[0]
    # One 2-D input fed whole rows: declared columns, or a width other than 1.
    matrix = (
        len(inputs) == 1
        and first.shape is not None
        and len(first.shape) == 2
        and ((columns is not None and columns != input_names) or first.shape[1] != 1)
    )
    width: int | None
    if matrix:
        graph_width = first.shape[1] if first.shape else None
        if columns is not None and graph_width is not None and len(columns) != graph_width:
            raise ModelError(
                f"{len(columns)} columns declared ({', '.join(columns)}) but graph input "
                f"'{first.name}' takes {graph_width} per row; make them agree"
            )
        width = len(columns) if columns is not None else graph_width
    else:
        if columns is not None and sorted(columns) != sorted(input_names):
            raise ModelError(
                f"declared columns {columns} differ from the graph inputs {input_names}; "
                "with one input per column, declare the same names (or none)"
            )
        width = len(input_names)
    column_feeds = [
        ColumnFeed(spec.name, spec.dtype, spec.fast.kinds, spec.fast.add_axis)
        for spec in inputs
        if spec.fast is not None and spec.fast.ndim == 1 and spec.dtype is not None
    ]
    return InputLayout(
        matrix,
        columns if columns is not None else ([] if matrix else input_names),
        width,
        column_feeds if not matrix and len(column_feeds) == len(inputs) else [],
    )
