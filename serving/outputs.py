"""The response side of /predict and /invocations: which graph outputs become which JSON fields, their
values, and the JSON Schema of the answer a client gets (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving import postprocess

CASTS = ("bool", "int", "float", "str")
CAST_SCHEMAS: dict[str, Any] = {
    "bool": "boolean",
    "int": "integer",
    "float": ["number", "null"],
    "str": "string",
}


class OutputsError(Exception):
    """modelship.json "outputs" cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Field:
    """A response field: which graph output it carries, an optional post-processing step and cast, and
    whether to unwrap one row."""

    name: str
    output: str
    cast: str | None = None
    unwrap: bool = False
    postprocess: str | None = None
    labels: tuple[str, ...] | None = None

    def value(self, results: dict[str, Any]) -> Any:
        """The field's graph output, post-processed when modelship.json asks for it."""
        value = results[self.output]
        return postprocess.apply(value, self.postprocess, self.labels) if self.postprocess else value


@dataclass(frozen=True)
class Answer:
    """The response fields, and whether they are nested under one key (several outputs, none mapped)."""

    fields: tuple[Field, ...]
    nested: bool

    @property
    def fetch(self) -> list[str]:
        """The graph outputs to run, each once."""
        return list(dict.fromkeys(f.output for f in self.fields))

    def values(self, results: dict[str, Any]) -> dict[str, list[Any]]:
        """Each field's JSON values from the graph's results by output name."""
        return {f.name: to_json(f.value(results), f.cast) for f in self.fields}

    def predict(self, values: dict[str, list[Any]], rows: int) -> dict[str, Any]:
        """The /predict body: {"prediction": [...]}, the mapped fields, or {"prediction": {output: [...]}}."""
        if self.nested:
            return {"prediction": values}
        return {
            f.name: values[f.name][0] if f.unwrap and rows == len(values[f.name]) == 1 else values[f.name]
            for f in self.fields
        }

    def invocations(self, values: dict[str, list[Any]], rows: int) -> dict[str, Any]:
        """MLflow's body: {"predictions": [...]}, one record per row for mapped fields, or keyed by output."""
        if len(values) == 1:
            return {"predictions": next(iter(values.values()))}
        if not self.nested and all(len(v) == rows for v in values.values()):
            records = zip(*values.values(), strict=True)
            return {"predictions": [dict(zip(values, row, strict=True)) for row in records]}
        return {"predictions": values}

    def schemas(self, items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """JSON Schemas of the /predict and /invocations answers, given each graph output's value schema."""
        columns = {f.name: {"type": "array", "items": self.item(f, items)} for f in self.fields}
        fields = {
            f.name: {"oneOf": [self.item(f, items), columns[f.name]]} if f.unwrap else columns[f.name]
            for f in self.fields
        }
        keyed: dict[str, Any] = {"type": "object", "properties": columns, "required": list(columns)}
        if self.nested:
            predict, predictions = object_of({"prediction": keyed}), keyed
        elif len(self.fields) == 1:
            predict, predictions = object_of(fields), next(iter(columns.values()))
        else:
            per_row = {name: column["items"] for name, column in columns.items()}
            record: dict[str, Any] = {"type": "object", "properties": per_row}
            predict, predictions = object_of(fields), {"oneOf": [{"type": "array", "items": record}, keyed]}
        return {"/predict": predict, "/invocations": object_of({"predictions": predictions})}

    @staticmethod
    def item(field: Field, items: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The schema of one row's value of a field (its cast wins over its post-processing and type)."""
        if field.cast:
            return {"type": CAST_SCHEMAS[field.cast]}
        if field.postprocess:
            return postprocess.schema(field.postprocess, field.labels)
        return items[field.output]


def object_of(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema object with exactly these properties."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def item_schema(onnx_type: str, shape: tuple[int | None, ...] | None) -> dict[str, Any]:
    """The JSON Schema of one row's value of a graph output: a scalar, a nested list, or a ZipMap map."""
    if onnx_type.startswith("seq(map("):
        return {"type": "object", "additionalProperties": {"type": "number"}}
    if not onnx_type.startswith("tensor("):
        return {}
    element = onnx_type[7:-1]
    scalar: dict[str, Any]
    if element == "string":
        scalar = {"type": "string"}
    elif element == "bool":
        scalar = {"type": "boolean"}
    else:
        # orjson writes NaN and infinity as null, so a float value may be null
        scalar = (
            {"type": ["number", "null"]} if element in ("float", "double", "float16") else {"type": "integer"}
        )
    per_row = shape is not None and (len(shape) <= 1 or (len(shape) == 2 and shape[1] == 1))
    return scalar if per_row else {"type": "array"}


def parse_answer(config: dict[str, Any], outputs: list[str], where: Path) -> Answer:
    """Response fields from modelship.json "outputs"; without it, the only output as "prediction", or
    every output by its name, nested."""
    spec = config.get("outputs")
    if spec is None:
        if len(outputs) == 1:
            return Answer((Field("prediction", outputs[0]),), nested=False)
        return Answer(tuple(Field(name, name) for name in outputs), nested=True)
    if not isinstance(spec, dict) or not spec:
        raise OutputsError(f'{where}: "outputs" must be an object {{"field": {{"output": "<output>"}}}}')
    fields = []
    for field, entry in spec.items():
        if isinstance(entry, str):
            entry = {"output": entry}
        if not isinstance(entry, dict) or entry.get("output") not in outputs:
            raise OutputsError(
                f'{where}: field "{field}" must name a graph output ({", ".join(outputs)}) '
                f'as {{"output": ...}}, got {entry!r}'
            )
        cast = entry.get("dtype")
        if cast is not None and cast not in CASTS:
            raise OutputsError(f'{where}: field "{field}" has dtype {cast!r}; use one of {", ".join(CASTS)}')
        problem = postprocess.check(entry.get("postprocess"), entry.get("labels"))
        if problem:
            raise OutputsError(f'{where}: field "{field}": {problem}')
        labels = tuple(entry["labels"]) if entry.get("labels") else None
        fields.append(
            Field(
                field,
                entry["output"],
                cast,
                bool(entry.get("unwrap", False)),
                entry.get("postprocess"),
                labels,
            )
        )
    return Answer(tuple(fields), nested=False)


def to_json(value: Any, cast: str | None) -> list[Any]:
    """A graph output -> JSON values, one per row: [N, 1] squeezed, ZipMap maps keyed by str."""
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.shape[1] == 1:
            value = value[:, 0]
        elif value.ndim == 0:
            value = value.reshape(1)
        if cast == "bool":
            value = value.astype(bool)
        elif cast == "int":
            value = np.rint(value).astype(np.int64) if value.dtype.kind == "f" else value.astype(np.int64)
        elif cast == "float":
            value = value.astype(np.float64)
        elif cast == "str":
            value = value.astype(str)
        return value.tolist()
    if isinstance(value, list):
        return [
            {str(k): v for k, v in item.items()} if isinstance(item, dict) else to_json(item, cast)
            for item in value
        ]
    return [value]
