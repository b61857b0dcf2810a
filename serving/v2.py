"""The Open Inference Protocol (V2, as KServe and Triton speak it): tensors in, tensors out."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from serving.errors import bad_request
from serving.tensors import TensorSpec, check_shape, convert

if TYPE_CHECKING:
    from serving.model import ServedModel

V2_TYPES: dict[str, str] = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint64)": "UINT64",
    "tensor(uint32)": "UINT32",
    "tensor(uint16)": "UINT16",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}

ABSENT = object()  # a key the request leaves out (null is a value, and refused)


def element_datatype(element: str) -> str | None:
    """The V2 datatype of an ONNX element type as /metadata names it ("float" -> "FP32"), None if none."""
    return V2_TYPES.get(f"tensor({element})")


class NamedTensor(NamedTuple):
    """One checked input tensor of a V2 request, and the graph input it feeds."""

    name: str
    array: np.ndarray


def infer(model: ServedModel, body: Any) -> dict[str, Any]:
    """The Open Inference Protocol infer response for a parsed JSON request."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise bad_request('expected {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    feeds: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(body["inputs"]):
        name, array = input_tensor(model, tensor, i)
        feeds[name] = array
    for spec in model.inputs:
        if spec.name not in feeds:
            raise bad_request(
                f"missing input '{spec.name}'; this model takes "
                + ", ".join(f"{s.name} ({V2_TYPES[s.onnx_type]})" for s in model.inputs)
            )
    if not isinstance(body.get("id", ""), str) or not isinstance(body.get("parameters", {}), dict):
        raise bad_request('"id" must be a string and "parameters" an object')
    wanted = requested_outputs(model, body.get("outputs", ABSENT))
    results = model.run(wanted, feeds)
    request_id = body.get("id")
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": request_id if isinstance(request_id, str) else uuid.uuid4().hex,
        "outputs": [
            {
                "name": name,
                "shape": list(result.shape),
                "datatype": V2_TYPES[model.output_by_name[name].onnx_type],
                "data": result.ravel().tolist(),
            }
            for name, result in zip(wanted, results, strict=True)
        ],
    }


def input_tensor(model: ServedModel, tensor: Any, i: int) -> NamedTensor:
    """One V2 input tensor, checked against the graph input of that name."""
    if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= tensor.keys():
        raise bad_request(f'inputs[{i}] must be an object with "name", "shape", "datatype" and "data"')
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise bad_request(f'inputs[{i}]: "name" and "datatype" must be strings')
    spec = model.input_by_name.get(name)
    if spec is None:
        raise bad_request(
            f"inputs[{i}]: unknown input {name!r}; this model takes "
            + ", ".join(s.name for s in model.inputs)
        )
    expected = V2_TYPES[spec.onnx_type]
    if datatype != expected and (
        datatype == "BYTES" or expected == "BYTES" or datatype not in V2_TYPES.values()
    ):
        raise bad_request(f"input '{name}': datatype {datatype!r} does not fit; the model expects {expected}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise bad_request(f"input '{name}': shape must be a list of non-negative integers, got {shape!r}")
    data = tensor["data"]
    flat = data if isinstance(data, list) and not any(isinstance(v, list) for v in data[:1]) else None
    if flat is None:
        try:
            flat = np.asarray(data, dtype=object).ravel().tolist() if isinstance(data, list) else None
        except ValueError:
            flat = None
    if flat is None:
        raise bad_request(f"input '{name}': data must be a (flat or nested) list of values")
    size = int(np.prod(shape)) if shape else 1
    if len(flat) != size:
        raise bad_request(f"input '{name}': shape {shape} needs {size} values, data holds {len(flat)}")
    if size == 0:
        raise bad_request(f"empty batch: input '{name}' holds no values")
    array = convert(flat, spec, f"input '{name}'").reshape(shape)
    check_shape(array, spec, f"input '{name}'")
    return NamedTensor(name, array)


def requested_outputs(model: ServedModel, requested: Any) -> list[str]:
    """Names of the outputs a V2 request asks for (default: every tensor output)."""
    if requested is ABSENT:
        return [o.name for o in model.outputs if o.onnx_type in V2_TYPES]
    if not isinstance(requested, list) or not requested:
        raise bad_request('"outputs" must be a non-empty list of {"name": "<output>"}')
    if not all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in requested):
        raise bad_request('"outputs" must be a list of {"name": "<output>"}, each name a string')
    names = []
    for entry in requested:
        spec = model.output_by_name.get(entry["name"])
        if spec is None:
            raise bad_request(
                f"unknown output {entry['name']!r}; this model has "
                + ", ".join(o.name for o in model.outputs)
            )
        if spec.onnx_type not in V2_TYPES:
            raise bad_request(
                f"output '{spec.name}' is a {spec.onnx_type}, not a tensor, so the Open Inference "
                "Protocol cannot carry it; ask /predict for it"
            )
        names.append(spec.name)
    return names


def metadata(model: ServedModel) -> dict[str, Any]:
    """The Open Inference Protocol model metadata."""

    def tensors(specs: list[TensorSpec]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "datatype": V2_TYPES[s.onnx_type],
                "shape": [-1 if d is None else d for d in s.shape or ()],
            }
            for s in specs
            if s.onnx_type in V2_TYPES
        ]

    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "onnxruntime_onnx",
        "inputs": tensors(model.inputs),
        "outputs": tensors(model.outputs),
    }
