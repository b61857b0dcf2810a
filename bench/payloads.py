"""Request bodies for each server, made from a bundled model's samples.json rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import onnxruntime

from serving.model_folder import MODEL_FILE, SAMPLES_FILE, TOKENIZER_FILE


@dataclass(frozen=True)
class Table:
    """Sample rows in the order of the graph's inputs, and each input's rank."""

    columns: list[str]
    rows: list[list[Any]]
    ranks: list[int]

    def batch(self, size: int) -> list[list[Any]]:
        """`size` rows, cycling through the samples."""
        return list(islice(cycle(self.rows), size))


def sample_rows(request: Any, columns: list[str]) -> list[list[Any]]:
    """The rows of one samples.json request (pandas columns, split or records; or a list of strings)."""
    if isinstance(request, dict) and "data" in request:
        return [[row[request["columns"].index(name)] for name in columns] for row in request["data"]]
    if isinstance(request, dict):
        keys = list(request[columns[0]])
        return [[request[name][key] for name in columns] for key in keys]
    if request and isinstance(request[0], dict):
        return [[record[name] for name in columns] for record in request]
    return [[value] for value in request]


def is_text_model(model_dir: Path) -> bool:
    """True for a transformer folder: a tokenizer.json makes its one input a column of texts."""
    return (model_dir / TOKENIZER_FILE).is_file()


def load_table(model_dir: Path) -> Table:
    """Every distinct row found in `model_dir`/samples.json, as graph inputs (or texts, for a
    transformer)."""
    if is_text_model(model_dir):
        columns, ranks = ["text"], [1]
    else:
        session = onnxruntime.InferenceSession(
            str(model_dir / MODEL_FILE), providers=["CPUExecutionProvider"]
        )
        columns = [graph_input.name for graph_input in session.get_inputs()]
        ranks = [len(graph_input.shape) for graph_input in session.get_inputs()]
    rows: list[list[Any]] = []
    for sample in json.loads((model_dir / SAMPLES_FILE).read_text(encoding="utf-8")):
        rows += [row for row in sample_rows(sample["request"], columns) if row not in rows]
    return Table(columns, rows, ranks)


def columns_body(table: Table, size: int) -> bytes:
    """pandas `columns` orient, as in the textbook's `pd.DataFrame(request.json)` (the issue's verbatim
    exchange): what modelship, the Flask app and the bare-ASGI app receive."""
    rows = table.batch(size)
    columns = {
        name: {str(key): row[index] for key, row in enumerate(rows)}
        for index, name in enumerate(table.columns)
    }
    return json.dumps(columns).encode()


def texts_body(table: Table, size: int) -> bytes:
    """A JSON list of texts, the seed's exchange (`["MLOps is critical for robustness"]`)."""
    return json.dumps([row[0] for row in table.batch(size)]).encode()


def mlflow_split_body(table: Table, size: int) -> bytes:
    """MLflow's pandas form ({"dataframe_split": {"columns", "data"}}): the same table the others get,
    as MLflow's documentation and its users send it."""
    return json.dumps({"dataframe_split": {"columns": table.columns, "data": table.batch(size)}}).encode()


def mlflow_tensors_body(table: Table, size: int) -> bytes:
    """MLflow's tensor form ({"inputs": {name: tensor}}): its fastest path, past pandas."""
    rows = table.batch(size)
    tensors = {
        name: [[row[index]] if rank == 2 else row[index] for row in rows]
        for index, (name, rank) in enumerate(zip(table.columns, table.ranks, strict=True))
    }
    return json.dumps({"inputs": tensors}).encode()
