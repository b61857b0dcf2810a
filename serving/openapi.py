"""The OpenAPI 3.1 document of the served model, built at start-up from its graph, modelship.json and
samples.json: the exact request bodies this model takes, every output it answers with, its name in the
V2 paths.

OpenAPI 3.1 facts relied on (OpenAPI 3.1.0, "Schema Object"): a schema is a JSON Schema 2020-12
document, so `prefixItems`, `const`, `anyOf` and `"type": [..., "null"]` are allowed as they are; a
Media Type Object's `examples` are Example Objects holding a `value`; and ("Path Templating") every
`{name}` in a path needs a path parameter of that name, whose schema may be an `enum`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from serving import payload
from serving.errors import ClientError
from serving.model import ServedModel
from serving.model_folder import SAMPLES_FILE
from serving.payload import Columns, Rows
from serving.tensors import TensorSpec
from serving.v2 import V2_TYPES

FLOAT_KINDS = "f"
ERROR = {
    "description": "The request was refused; the message names the field and what was expected.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
JSON_OBJECT = {"type": "object"}
CSV_CELL = {"f": r"-?[0-9]{1,10}(\.[0-9]{1,10})?", "b": "(true|false)", "O": r'[^,"\r\n]+'}


def cell(spec: TensorSpec) -> dict[str, Any]:
    """The JSON Schema of one value of an input's element type (integers bounded by their dtype)."""
    dtype = spec.dtype
    assert dtype is not None  # ServedModel refuses non-tensor inputs
    if dtype.kind == "O":
        return {"type": "string"}
    if dtype.kind == "b":
        return {"type": "boolean"}
    if dtype.kind in FLOAT_KINDS:
        return {"type": "number"}
    bounds = np.iinfo(dtype)
    return {"type": "integer", "minimum": int(bounds.min), "maximum": int(bounds.max)}


def row_value(spec: TensorSpec) -> dict[str, Any]:
    """One row's value of a column input: a scalar for shapes [N] and [N, 1], else a nested array."""
    schema = cell(spec)
    shape = spec.shape or (None,)
    if len(shape) == 2 and shape[1] == 1:
        return schema
    for size in reversed(shape[1:]):
        schema = {"type": "array", "items": schema}
        if size is not None:
            schema |= {"minItems": size, "maxItems": size}
    return schema


def column_schemas(model: ServedModel) -> dict[str, dict[str, Any]]:
    """Each declared column's per-row value schema, in the declared order."""
    if model.matrix:
        return {name: cell(model.inputs[0]) for name in model.columns}
    return {name: row_value(model.input_by_name[name]) for name in model.columns}


def batch(items: dict[str, Any], model: ServedModel) -> dict[str, Any]:
    """An array of at least one row (exactly N when the graph fixes its batch size)."""
    schema = {"type": "array", "items": items, "minItems": 1}
    fixed = model.inputs[0].shape[0] if model.inputs[0].shape else None
    return schema | ({"maxItems": fixed, "minItems": fixed} if isinstance(fixed, int) else {})


def row(model: ServedModel, columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One row as a list of values in the declared column order (or `width` values of one type)."""
    if columns:
        return {
            "type": "array",
            "prefixItems": list(columns.values()),
            "items": False,
            "minItems": len(columns),
        }
    width = {"minItems": model.width, "maxItems": model.width} if model.width else {}
    return {"type": "array", "items": cell(model.inputs[0])} | width


def split(model: ServedModel, columns: dict[str, dict[str, Any]], rows: dict[str, Any]) -> dict[str, Any]:
    """pandas' split form {"columns", "data", "index"}: any column order when every column takes the same
    type, the declared order otherwise."""
    kinds = list(columns.values())
    names: dict[str, Any]
    if not columns:  # no declared names: any distinct names, one per value of a row
        width = {"minItems": model.width, "maxItems": model.width} if model.width else {}
        names = {"type": "array", "items": {"type": "string"}, "uniqueItems": True} | width
    elif all(kind == kinds[0] for kind in kinds):
        names = {
            "type": "array",
            "items": {"enum": list(columns)},
            "uniqueItems": True,
            "minItems": len(columns),
            "maxItems": len(columns),
        }
        rows = {"type": "array", "items": kinds[0], "minItems": len(columns), "maxItems": len(columns)}
    else:
        names = {"const": list(columns)}
    return {
        "type": "object",
        "properties": {"columns": names, "data": batch(rows, model), "index": {"type": "array"}},
        "required": ["columns", "data"],
        "additionalProperties": False,
    }


def pandas_columns(columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """pandas' columns form {column: {row label: value}} or {column: [values]}."""
    return {
        "type": "object",
        "description": "Every column holds the same row labels (or as many values) as the others.",
        "properties": {
            name: {
                "anyOf": [
                    {"type": "object", "additionalProperties": value, "minProperties": 1},
                    {"type": "array", "items": value, "minItems": 1},
                ]
            }
            for name, value in columns.items()
        },
        "required": list(columns),
        "additionalProperties": False,
    }


def request_schema(model: ServedModel) -> dict[str, Any]:
    """Every JSON body /predict and /invocations take from this model, each form named in its title."""
    columns = column_schemas(model)
    rows = batch(row(model, columns), model)
    lists: list[dict[str, Any]] = [rows | {"title": "rows"}]
    named: list[dict[str, Any]] = []
    if len(columns) == 1 or (not columns and model.width == 1):
        value = next(iter(columns.values())) if columns else cell(model.inputs[0])
        if value.get("type") != "array":
            lists.append(batch(value, model) | {"title": "values"})
    if columns:
        record = {
            "type": "object",
            "properties": columns,
            "required": list(columns),
            "additionalProperties": False,
        }
        records = batch(record, model)
        lists.insert(0, records | {"title": "records"})
        named.append(pandas_columns(columns) | {"title": "pandas columns"})
    frame = split(model, columns, row(model, columns))
    wrapped = [
        wrap("dataframe_split", frame),
        *([wrap("dataframe_records", records)] if columns else []),
        wrap("instances", {"anyOf": lists + named}),
        wrap("inputs", {"anyOf": lists + named}),
    ]
    return {"anyOf": [*lists, *named, frame | {"title": "pandas split"}, *wrapped]}


def wrap(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    """MLflow's {"key": ...} wrapper around a form."""
    return {
        "title": f"MLflow {key}",
        "type": "object",
        "properties": {key: schema},
        "required": [key],
        "additionalProperties": False,
    }


def csv_schema(model: ServedModel) -> dict[str, Any]:
    """A text/csv body: the declared columns as the header, then one line of plain values per row."""
    specs = (
        [model.inputs[0]] * len(model.columns)
        if model.matrix
        else [model.input_by_name[c] for c in model.columns]
    )
    cells = [csv_cell(spec) for spec in specs]
    line = ",".join(cells)
    return {
        "type": "string",
        "description": "A header row naming the columns, then one line per row.",
        "pattern": f"^{','.join(model.columns)}\\r?\\n({line}\\r?\\n)*{line}(\\r?\\n)?$",
    }


def csv_cell(spec: TensorSpec) -> str:
    """A regular expression for one CSV cell of an input: integers within their dtype's digits."""
    kind = spec.dtype.kind if spec.dtype is not None else "f"
    if kind in "iu":
        digits = len(str(np.iinfo(spec.dtype).max)) - 1
        return ("" if kind == "u" else "-?") + f"[0-9]{{1,{digits}}}"
    return CSV_CELL[kind]


def read_samples(model_dir: Path) -> list[dict[str, Any]]:
    """The model folder's sample requests and responses, or none without a readable samples.json."""
    try:
        samples = json.loads((model_dir / SAMPLES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(samples, list):
        return []
    return [s for s in samples if isinstance(s, dict) and "request" in s]


def csv_example(model: ServedModel, request: Any) -> str | None:
    """A sample request as text/csv in the declared column order, when it is a named table."""
    try:
        parsed = payload.parse(request)
    except ClientError:
        return None
    if isinstance(parsed, Columns):
        table = parsed.data
    elif isinstance(parsed, Rows):
        names = parsed.columns or model.columns
        table = {
            name: list(values) for name, values in zip(names, zip(*parsed.rows, strict=True), strict=False)
        }
    else:
        table = dict(zip(model.columns, [parsed.values], strict=False))
    if not model.columns or set(table) != set(model.columns):
        return None
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(model.columns)
    writer.writerows(zip(*(table[c] for c in model.columns), strict=True))
    return text.getvalue()


def media(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """A Media Type Object with named examples."""
    shown = {"schema": schema}
    return shown | ({"examples": {k: {"value": v} for k, v in examples.items()}} if examples else {})


def scoring(
    model: ServedModel, summary: str, answer: dict[str, Any], samples: list[dict[str, Any]]
) -> dict[str, Any]:
    """The POST operation of /predict or /invocations."""
    requests = {f"sample {i}": s["request"] for i, s in enumerate(samples)}
    content = {"application/json": media(request_schema(model), requests)}
    if model.columns:
        table = next((t for t in (csv_example(model, s["request"]) for s in samples) if t), None)
        content["text/csv"] = media(csv_schema(model), {"sample": table} if table else {})
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": content},
            "responses": {"200": answer, "400": ERROR, "413": ERROR, "415": ERROR, "503": ERROR},
        }
    }


def v2_request(model: ServedModel) -> dict[str, Any]:
    """An Open Inference Protocol infer request: one tensor per graph input, in the graph's order."""
    tensors = [v2_tensor(spec, cell(spec), input_side=True) for spec in model.inputs]
    outputs = [o.name for o in model.outputs if o.onnx_type in V2_TYPES]
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "prefixItems": tensors, "items": False, "minItems": len(tensors)},
            "outputs": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "object", "properties": {"name": {"enum": outputs}}, "required": ["name"]},
            },
        },
        "required": ["inputs"],
    }


def v2_tensor(spec: TensorSpec, value: dict[str, Any], input_side: bool) -> dict[str, Any]:
    """One V2 tensor: its name, datatype, a shape of the graph's rank and its data, flat."""
    datatype = V2_TYPES[spec.onnx_type]
    numeric = sorted(t for t in V2_TYPES.values() if t != "BYTES")
    rank = len(spec.shape or ())
    if input_side:
        dims = [{"type": "integer", "minimum": 1} if d is None else {"const": d} for d in spec.shape or ()]
        shape = {"type": "array", "prefixItems": dims, "items": False, "minItems": rank}
    else:  # prefixItems in a response schema trips schemathesis' response check; the rank is enough
        shape = {
            "type": "array",
            "items": {"type": "integer", "minimum": 0},
            "minItems": rank,
            "maxItems": rank,
        }
    return {
        "type": "object",
        "properties": {
            "name": {"const": spec.name},
            "datatype": {"enum": numeric} if input_side and datatype != "BYTES" else {"const": datatype},
            "shape": shape,
            "data": {"type": "array", "items": value, "minItems": 1},
        },
        "required": ["name", "shape", "datatype", "data"],
        "description": "data holds as many values as the product of shape.",
    }


def v2_response(model: ServedModel) -> dict[str, Any]:
    """An Open Inference Protocol infer response with the requested output tensors."""
    tensors = [
        v2_tensor(o, output_value(o), input_side=False) for o in model.outputs if o.onnx_type in V2_TYPES
    ]
    return {
        "type": "object",
        "properties": {
            "model_name": {"const": model.name},
            "model_version": {"const": model.version},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": {"anyOf": tensors}},
        },
        "required": ["model_name", "model_version", "id", "outputs"],
    }


def output_value(spec: TensorSpec) -> dict[str, Any]:
    """One value of an output tensor; a float may be null (NaN or infinity, which JSON cannot hold)."""
    if spec.dtype is not None and spec.dtype.kind in FLOAT_KINDS:
        return {"type": ["number", "null"]}
    return cell(spec)


def answer(
    description: str, schema: dict[str, Any], examples: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A 200 JSON answer."""
    return {"description": description, "content": {"application/json": media(schema, examples or {})}}


def probe(summary: str, unready: bool = False) -> dict[str, Any]:
    """A GET answering a JSON object (and a 503 while not ready)."""
    responses = {"200": answer("OK", JSON_OBJECT)}
    return {
        "get": {
            "summary": summary,
            "responses": responses | ({"503": answer("Not ready", JSON_OBJECT)} if unready else {}),
        }
    }


def document(model: ServedModel) -> dict[str, Any]:
    """The OpenAPI document of `model`."""
    samples = read_samples(model.model_dir)
    schemas = model.response_schemas()
    predicted = {f"sample {i}": s["response"] for i, s in enumerate(samples) if "response" in s}
    named = {"name": "name", "in": "path", "required": True, "schema": {"enum": [model.name]}}
    v2 = "/v2/models/{name}"
    return {
        "openapi": "3.1.0",
        "info": {"title": f"modelship: {model.name}", "version": model.version},
        "paths": {
            "/predict": scoring(
                model,
                "Predict: pandas columns/split/records, MLflow's wrapped forms, rows, or CSV.",
                answer("One value per row in each response field.", schemas["/predict"], predicted),
                samples,
            ),
            "/invocations": scoring(
                model,
                'MLflow-compatible scoring: {"predictions": [...]}.',
                answer("MLflow predictions.", schemas["/invocations"]),
                samples,
            ),
            f"{v2}/infer": {
                "post": {
                    "summary": "Open Inference Protocol inference.",
                    "parameters": [named],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": media(v2_request(model), {})},
                    },
                    "responses": {
                        "200": answer("Output tensors.", v2_response(model)),
                        "404": ERROR,
                        "400": ERROR,
                        "413": ERROR,
                        "415": ERROR,
                        "503": ERROR,
                    },
                }
            },
            v2: {
                "get": {
                    "summary": "Open Inference Protocol model metadata.",
                    "parameters": [named],
                    "responses": {"200": answer("Model metadata.", JSON_OBJECT), "404": ERROR, "503": ERROR},
                }
            },
            "/health": probe("Alive: the process answers."),
            "/ready": probe(
                "Ready: the model is loaded and warmed up (503 before, and while draining).", True
            ),
            "/v2/health/live": probe("Open Inference Protocol liveness."),
            "/v2/health/ready": probe("Open Inference Protocol readiness.", True),
            "/metadata": probe("Model name, version, sha256, graph inputs and outputs, columns.", True),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics.",
                    "responses": {
                        "200": {
                            "description": "Prometheus text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document.", "responses": {"200": answer("OpenAPI 3.1", JSON_OBJECT)}}
            },
        },
    }
