"""An ONNX model served from a model folder: JSON rows in, clean JSON predictions out."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from serving import payload
from serving.config import MODEL_FILE
from serving.errors import ClientError, bad_request
from serving.outputs import OutputsError, item_schema, parse_answer
from serving.payload import Batch, Columns, Rows, Values, type_name
from serving.tokenizer import TEXT_INPUT, TokenizerError, load_text_encoder

CONFIG_FILE = "modelship.json"
PROVENANCE_FILE = "provenance.json"
COLUMNS_METADATA_KEY = "modelship.columns"

NUMPY_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint64)": np.uint64,
    "tensor(uint32)": np.uint32,
    "tensor(uint16)": np.uint16,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}
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
EXPECTED = {
    "f": "a number",
    "i": "an integer",
    "u": "a non-negative integer",
    "b": "a boolean",
    "O": "a string",
}


_ABSENT = object()  # a key the request leaves out (null is a value, and refused)


class ModelError(Exception):
    """The model folder cannot be served; the message says what is wrong with it and how to fix it."""


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, ONNX type, numpy dtype (None unless a tensor) and shape."""

    name: str
    onnx_type: str
    dtype: np.dtype[Any] | None
    shape: tuple[int | None, ...] | None
    # Fast path of `fit` for numeric inputs with a free batch dimension: JSON kinds taken as they are,
    # the rank of the JSON values, whether to add a trailing axis, and the fixed width of a 2-D input.
    fast: tuple[str, int, bool, int | None] | None = None
    label: str = ""  # how messages name it: "column 'RM'"

    @classmethod
    def from_node(cls, node: Any) -> TensorSpec:
        """Describe an onnxruntime NodeArg; symbolic dimensions become None."""
        numpy_type = NUMPY_TYPES.get(node.type)
        is_tensor = node.type.startswith("tensor(")
        shape = tuple(d if isinstance(d, int) else None for d in node.shape) if is_tensor else None
        dtype = np.dtype(numpy_type) if numpy_type else None
        return cls(node.name, node.type, dtype, shape, fast_path(dtype, shape), f"column '{node.name}'")

    def describe(self) -> dict[str, Any]:
        """The /metadata entry: name, dtype (ONNX element type) and shape (null = any size)."""
        dtype = self.onnx_type[7:-1] if self.onnx_type.startswith("tensor(") else self.onnx_type
        return {"name": self.name, "dtype": dtype, "shape": None if self.shape is None else list(self.shape)}


TEXT_SPEC = TensorSpec(
    TEXT_INPUT, "tensor(string)", np.dtype(np.object_), (None,), None, f"column '{TEXT_INPUT}'"
)


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


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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


class ServedModel:
    """An onnxruntime session plus the rules that map JSON requests to it and its outputs back to JSON."""

    def __init__(
        self,
        session: ort.InferenceSession,
        model_dir: Path,
        config: dict[str, Any],
        name: str,
        version: str,
        sha256: str,
    ) -> None:
        self.session = session
        self.model_dir = model_dir
        self.name, self.version, self.sha256 = name, version, sha256
        graph_inputs = [TensorSpec.from_node(n) for n in session.get_inputs()]
        self.outputs = [TensorSpec.from_node(n) for n in session.get_outputs()]
        self.output_by_name = {o.name: o for o in self.outputs}
        where = model_dir / CONFIG_FILE
        try:
            signature = [(s.name, s.dtype, s.shape) for s in graph_inputs]
            self.text_encoder = load_text_encoder(model_dir, signature, config, where)
        except TokenizerError as exc:
            raise ModelError(str(exc)) from None
        # With a tokenizer, clients send one string column; the encoder makes the graph's token inputs.
        self.inputs = [TEXT_SPEC] if self.text_encoder is not None else graph_inputs
        for spec in self.inputs:
            if spec.dtype is None:
                raise ModelError(
                    f"graph input '{spec.name}' has type {spec.onnx_type}, which JSON cannot feed; "
                    "export the model with tensor inputs"
                )
        columns = declared_columns(config, session.get_modelmeta().custom_metadata_map, where)
        input_names = [i.name for i in self.inputs]
        first = self.inputs[0]
        # One 2-D input fed whole rows: declared columns, or a width other than 1.
        self.matrix = (
            len(self.inputs) == 1
            and first.shape is not None
            and len(first.shape) == 2
            and ((columns is not None and columns != input_names) or first.shape[1] != 1)
        )
        if self.matrix:
            width = first.shape[1] if first.shape else None
            if columns is not None and width is not None and len(columns) != width:
                raise ModelError(
                    f"{len(columns)} columns declared ({', '.join(columns)}) but graph input "
                    f"'{first.name}' takes {width} per row; make them agree"
                )
            self.width: int | None = len(columns) if columns is not None else width
        else:
            if columns is not None and sorted(columns) != sorted(input_names):
                raise ModelError(
                    f"declared columns {columns} differ from the graph inputs {input_names}; "
                    "with one input per column, declare the same names (or none)"
                )
            self.width = len(input_names)
        self.columns: list[str] = columns if columns is not None else ([] if self.matrix else input_names)
        self.column_set = frozenset(self.columns)
        self.input_by_name = {i.name: i for i in self.inputs}
        # The one-pass path for pandas columns: every input a numeric column taking one value per row.
        column_feeds = [
            (spec.name, spec.dtype, spec.fast[0], spec.fast[2])
            for spec in self.inputs
            if spec.fast is not None and spec.fast[1] == 1
        ]
        self.column_feeds = column_feeds if not self.matrix and len(column_feeds) == len(self.inputs) else []
        try:
            self.answer_shape = parse_answer(config, [o.name for o in self.outputs], where)
        except OutputsError as exc:
            raise ModelError(str(exc)) from None
        self.fetch = self.answer_shape.fetch

    # ---- /predict and /invocations -------------------------------------------------------------

    def predict(self, body: Any) -> dict[str, Any]:
        """The /predict response for a parsed JSON body (or a Batch, from CSV)."""
        return self.answer_shape.predict(*self.answer(body))

    def invocations(self, body: Any) -> dict[str, Any]:
        """The MLflow /invocations response for a parsed JSON body (or a Batch, from CSV)."""
        return self.answer_shape.invocations(*self.answer(body))

    def answer(self, body: Any) -> tuple[dict[str, list[Any]], int]:
        """Each response field's JSON values for a /predict-style body, and the number of rows."""
        feeds, rows = self.prepare(body)
        return self.values(self.run(self.fetch, feeds)), rows

    def prepare(self, body: Any) -> tuple[dict[str, np.ndarray], int]:
        """The checked feeds of a /predict-style body (a 400 ClientError if it does not fit), and its rows."""
        fast = self.pandas_columns_feeds(body) if self.column_feeds else None
        if fast is not None:
            return fast
        batch = body if isinstance(body, Columns | Rows | Values) else payload.parse(body)
        rows = payload.n_rows(batch)
        return self.feeds(batch, rows), rows

    def values(self, results: list[Any]) -> dict[str, list[Any]]:
        """Each response field's JSON values from the fetched outputs (in `fetch` order)."""
        return self.answer_shape.values(dict(zip(self.fetch, results, strict=True)))

    @property
    def batchable(self) -> bool:
        """True when requests' rows can be stacked into one run and split back: every input and every
        fetched output is a tensor whose first dimension is free."""
        fetched = [self.output_by_name[name] for name in self.fetch]
        return all(spec.shape and spec.shape[0] is None for spec in [*self.inputs, *fetched])

    def run_fetched(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        """The outputs the answer needs, for `feeds` (what the batcher runs)."""
        return self.run(self.fetch, feeds)

    def kind_of(self, column: str) -> str | None:
        """The numpy kind ("f", "i", "u", "b", "O") of a column's input; None for an unknown column."""
        spec = self.inputs[0] if self.matrix else self.input_by_name.get(column)
        return spec.dtype.kind if spec is not None and spec.dtype is not None else None

    def pandas_columns_feeds(self, body: Any) -> tuple[dict[str, np.ndarray], int] | None:
        """Feeds for the commonest request, pandas columns of numbers with one input each, in one pass.

        None at the first surprise (another shape, a missing or extra column, a row index that differs,
        a value of another type): the general path then parses the body and says what is wrong.
        """
        if type(body) is not dict or len(body) != len(self.column_feeds):
            return None
        feeds: dict[str, np.ndarray] = {}
        index: list[Any] | None = None
        for name, dtype, kinds, add_axis in self.column_feeds:
            column = body.get(name)
            if type(column) is not dict:
                return None
            if index is None:
                index = list(column)
                if not index:
                    return None
            elif len(column) != len(index) or list(column) != index:
                return None
            values = list(column.values())
            try:
                array = np.asarray(values)
            except ValueError:  # ragged: the general path says where
                return None
            if array.dtype.kind not in kinds or array.ndim != 1:
                return None
            if kinds != "b" and bool in map(type, values):  # numpy reads true as 1
                return None
            array = array.astype(dtype, copy=False)
            feeds[name] = array.reshape(-1, 1) if add_axis else array
        return feeds, len(index or ())

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[Any]:
        """Run the session; input values the graph rejects are the client's mistake (400)."""
        if self.text_encoder is not None:
            feeds = self.text_encoder.encode(feeds[TEXT_INPUT])
        try:
            return self.session.run(outputs, feeds)
        except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            raise bad_request(f"the model rejected the input: {exc}") from None

    def feeds(self, batch: Batch, rows: int) -> dict[str, np.ndarray]:
        """Graph inputs for a batch, by column name or by the declared column order."""
        if self.matrix:
            return {self.inputs[0].name: self.matrix_feed(batch, rows)}
        if isinstance(batch, Columns):
            self.check_names(batch.data.keys())
            data: Mapping[str, Sequence[Any]] = batch.data
        elif isinstance(batch, Rows):
            names = batch.columns if batch.columns is not None else self.columns
            if batch.columns is not None:
                self.check_names(names)
            else:
                self.check_width(len(batch.rows[0]))
            data = dict(zip(names, zip(*batch.rows, strict=True), strict=True))
        else:
            if len(self.inputs) != 1:
                raise bad_request(
                    f"a list of bare values fits a model with one input column; this model takes "
                    f"{self.width} ({self.column_list()}): send records or rows"
                )
            data = {self.inputs[0].name: batch.values}
        return {spec.name: fit(data[spec.name], spec, rows, spec.label) for spec in self.inputs}

    def matrix_feed(self, batch: Batch, rows: int) -> np.ndarray:
        """One 2-D tensor of rows for a single-input graph, columns in the declared order."""
        spec = self.inputs[0]
        matrix: Sequence[Any]
        if isinstance(batch, Values):
            if self.width not in (1, None):
                raise bad_request(
                    f"a list of bare values fits a model with one input column; this model takes "
                    f"{self.width} ({self.column_list()}): send rows or records"
                )
            matrix = [[v] for v in batch.values]
        elif isinstance(batch, Columns):
            if not self.columns:
                raise bad_request(
                    "this model declares no column names, so named columns cannot be placed; "
                    f"send rows as lists of {self.width or 'N'} values"
                )
            self.check_names(batch.data.keys())
            matrix = list(zip(*(batch.data[c] for c in self.columns), strict=True))
        else:
            matrix = batch.rows
            if batch.columns is not None and self.columns and batch.columns != self.columns:
                self.check_names(batch.columns)
                order = [batch.columns.index(c) for c in self.columns]
                matrix = [[row[i] for i in order] for row in batch.rows]
            elif batch.columns is None:
                self.check_width(len(batch.rows[0]))
        return fit(matrix, spec, rows, "", self.columns)

    def check_names(self, names: Any) -> None:
        """Refuse unknown and missing columns, naming the first of each."""
        if names == self.column_set:
            return
        expected = self.columns
        for name in names:
            if name not in self.input_by_name and name not in expected:
                raise bad_request(f"unknown column '{name}'; this model takes {self.column_list()}")
        for name in expected:
            if name not in names:
                raise bad_request(f"missing column '{name}'; this model takes {self.column_list()}")

    def check_width(self, width: int) -> None:
        """Refuse bare rows whose length is not the number of columns."""
        if self.width is not None and width != self.width:
            raise bad_request(
                f"each row has {width} values but this model takes {self.width} "
                f"({self.column_list()}), in that order"
            )

    def column_list(self) -> str:
        """The model's columns for messages."""
        return "columns " + ", ".join(self.columns) if self.columns else f"{self.width or 'N'} values per row"

    # ---- Open Inference Protocol ---------------------------------------------------------------

    def infer_v2(self, body: Any) -> dict[str, Any]:
        """The Open Inference Protocol infer response for a parsed JSON request."""
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
            raise bad_request('expected {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
        feeds: dict[str, np.ndarray] = {}
        for i, tensor in enumerate(body["inputs"]):
            name, array = self.v2_input(tensor, i)
            feeds[name] = array
        for spec in self.inputs:
            if spec.name not in feeds:
                raise bad_request(
                    f"missing input '{spec.name}'; this model takes "
                    + ", ".join(f"{s.name} ({V2_TYPES[s.onnx_type]})" for s in self.inputs)
                )
        if not isinstance(body.get("id", ""), str) or not isinstance(body.get("parameters", {}), dict):
            raise bad_request('"id" must be a string and "parameters" an object')
        wanted = self.v2_outputs(body.get("outputs", _ABSENT))
        results = self.run(wanted, feeds)
        request_id = body.get("id")
        return {
            "model_name": self.name,
            "model_version": self.version,
            "id": request_id if isinstance(request_id, str) else uuid.uuid4().hex,
            "outputs": [
                {
                    "name": name,
                    "shape": list(result.shape),
                    "datatype": V2_TYPES[self.output_by_name[name].onnx_type],
                    "data": result.ravel().tolist(),
                }
                for name, result in zip(wanted, results, strict=True)
            ],
        }

    def v2_input(self, tensor: Any, i: int) -> tuple[str, np.ndarray]:
        """One V2 input tensor, checked against the graph input of that name."""
        if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= tensor.keys():
            raise bad_request(f'inputs[{i}] must be an object with "name", "shape", "datatype" and "data"')
        name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
        if not isinstance(name, str) or not isinstance(datatype, str):
            raise bad_request(f'inputs[{i}]: "name" and "datatype" must be strings')
        spec = self.input_by_name.get(name)
        if spec is None:
            raise bad_request(
                f"inputs[{i}]: unknown input {name!r}; this model takes "
                + ", ".join(s.name for s in self.inputs)
            )
        expected = V2_TYPES[spec.onnx_type]
        if datatype != expected and (
            datatype == "BYTES" or expected == "BYTES" or datatype not in V2_TYPES.values()
        ):
            raise bad_request(
                f"input '{name}': datatype {datatype!r} does not fit; the model expects {expected}"
            )
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
        return name, array

    def v2_outputs(self, requested: Any) -> list[str]:
        """Names of the outputs a V2 request asks for (default: every tensor output)."""
        if requested is _ABSENT:
            return [o.name for o in self.outputs if o.onnx_type in V2_TYPES]
        if not isinstance(requested, list) or not requested:
            raise bad_request('"outputs" must be a non-empty list of {"name": "<output>"}')
        if not all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in requested):
            raise bad_request('"outputs" must be a list of {"name": "<output>"}, each name a string')
        names = []
        for entry in requested:
            spec = self.output_by_name.get(entry["name"])
            if spec is None:
                raise bad_request(
                    f"unknown output {entry['name']!r}; this model has "
                    + ", ".join(o.name for o in self.outputs)
                )
            if spec.onnx_type not in V2_TYPES:
                raise bad_request(
                    f"output '{spec.name}' is a {spec.onnx_type}, not a tensor, so the Open Inference "
                    "Protocol cannot carry it; ask /predict for it"
                )
            names.append(spec.name)
        return names

    # ---- descriptions and warm-up --------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The /metadata body: identity, graph signature, columns and response fields."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "onnxruntime": ort.__version__,
            "inputs": [i.describe() for i in self.inputs],
            "outputs": [o.describe() for o in self.outputs],
            "columns": self.columns,
            "input_mode": "matrix" if self.matrix else "columns",
            "fields": {
                f.name: {"output": f.output, "dtype": f.cast, "unwrap": f.unwrap}
                | ({"postprocess": f.postprocess, "labels": f.labels} if f.postprocess else dict[str, Any]())
                for f in self.answer_shape.fields
            },
            "responses": self.response_schemas(),
        } | ({"tokenizer": self.text_encoder.describe()} if self.text_encoder is not None else {})

    def response_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schemas of the /predict and /invocations answers of this model."""
        return self.answer_shape.schemas({o.name: item_schema(o.onnx_type, o.shape) for o in self.outputs})

    def v2_metadata(self) -> dict[str, Any]:
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
            "name": self.name,
            "versions": [self.version],
            "platform": "onnxruntime_onnx",
            "inputs": tensors(self.inputs),
            "outputs": tensors(self.outputs),
        }

    def warm_up_body(self) -> Any:
        """A one-row /predict body built from the input signature."""

        def sample(spec: TensorSpec) -> Any:
            kind = spec.dtype.kind if spec.dtype is not None else "f"
            return {"O": "warm-up", "b": False, "f": 0.0}.get(kind, 0)

        if self.matrix:
            return [[sample(self.inputs[0])] * (self.width or 1)]
        if len(self.inputs) == 1:
            return [sample(self.inputs[0])]
        return [{spec.name: sample(spec) for spec in self.inputs}]

    def warm_up(self) -> None:
        """Run the whole predict path once (or the bare graph on zeros when a one-row body cannot fit it);
        a model that fails there is a ModelError."""
        try:
            try:
                self.predict(self.warm_up_body())
            except ClientError:
                self.session.run(None, self.zero_feeds())
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise ModelError(
                f"the model fails its warm-up run: {exc}; check that it runs in onnxruntime on one row "
                "of its declared inputs"
            ) from None

    def zero_feeds(self) -> dict[str, np.ndarray]:
        """One tensor of zeros (or strings) per input, free dimensions set to 1."""
        feeds = {}
        for spec in self.inputs:
            shape = tuple(d if d is not None else 1 for d in spec.shape or (1,))
            dtype = spec.dtype if spec.dtype is not None else np.dtype(np.float32)
            feeds[spec.name] = (
                np.full(shape, "warm-up", dtype=object) if dtype.kind == "O" else np.zeros(shape, dtype=dtype)
            )
        return feeds


# ---- conversions (pure) ------------------------------------------------------------------------


def fast_path(
    dtype: np.dtype[Any] | None, shape: tuple[int | None, ...] | None
) -> tuple[str, int, bool, int | None] | None:
    """How `fit` may skip the general checks for this input, or None when it may not."""
    kinds = {"f": "fiu", "i": "i", "b": "b"}.get(dtype.kind if dtype is not None else "")
    if kinds is None or not shape or shape[0] is not None or len(shape) > 2:
        return None
    if len(shape) == 1:
        return kinds, 1, False, None
    if shape[1] in (1, None):
        return kinds, 1, True, None
    return kinds, 2, False, shape[1]


def fit(
    values: Sequence[Any], spec: TensorSpec, rows: int, what: str, columns: list[str] | None = None
) -> np.ndarray:
    """JSON values of one input -> a tensor of its dtype and shape, or a 400 naming column and problem."""
    if spec.fast is not None:
        kinds, ndim, add_axis, width = spec.fast
        try:
            array = np.asarray(values)
        except ValueError:
            pass  # ragged: the general path below says where
        else:
            if (
                array.dtype.kind in kinds
                and array.ndim == ndim
                and (width is None or array.shape[1] == width)
                and (kinds == "b" or not holds_bool(values, ndim))
            ):
                array = array.astype(spec.dtype, copy=False)
                return array.reshape(-1, 1) if add_axis else array
    array = convert(values, spec, what, columns)
    shape = spec.shape
    if shape is not None and array.ndim == len(shape) - 1 and shape[-1] in (1, None):
        array = array.reshape(*array.shape, 1)
    check_shape(array, spec, what or f"input '{spec.name}'")
    if shape is not None and shape and shape[0] is not None and shape[0] != rows:
        raise bad_request(f"this model takes exactly {shape[0]} row(s) per request, got {rows}")
    return array


def check_shape(array: np.ndarray, spec: TensorSpec, what: str) -> None:
    """Refuse a tensor whose rank or fixed dimensions differ from the graph's."""
    shape = spec.shape
    if shape is None:
        return
    if array.ndim != len(shape) or any(
        d is not None and d != a for a, d in zip(array.shape[1:], shape[1:], strict=True)
    ):
        declared = "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"
        raise bad_request(
            f"{what}: values of shape {list(array.shape)} do not fit the model's shape {declared}"
        )


def convert(
    values: Sequence[Any], spec: TensorSpec, what: str, columns: list[str] | None = None
) -> np.ndarray:
    """JSON values -> an array of the input's dtype; wrong types are refused, not coerced."""
    dtype = spec.dtype
    assert dtype is not None  # ServedModel refuses non-tensor inputs
    ragged = f"{what or 'rows'}: nested lists of uneven length; every row needs the same shape"
    if dtype.kind == "O":
        try:
            array = np.array(values, dtype=object)
        except ValueError:
            raise bad_request(ragged) from None
        if not all(type(v) is str for v in array.flat):
            raise wrong_type(what, columns, first_bad(values, lambda v: isinstance(v, str)), "O", ragged)
        return array
    try:
        array = np.asarray(values)
    except ValueError:
        raise bad_request(ragged) from None
    kind = array.dtype.kind
    if dtype.kind == "b" and kind != "b":  # 0 and 1 are numbers: a boolean input takes true and false only
        raise wrong_type(what, columns, first_bad(values, lambda v: type(v) is bool), "b", ragged)
    if dtype.kind != "b" and kind in "biuf" and holds_bool(values, array.ndim):
        raise wrong_type(what, columns, first_bad(values, lambda v: type(v) is not bool), dtype.kind, ragged)
    if kind not in "biuf":
        bad = first_bad(values, lambda v: isinstance(v, int | float))
        huge = first_bad(values, lambda v: not isinstance(v, int) or -(2**63) <= v < 2**64)
        if bad is None and huge is not None:  # Python ints past 64 bits (orjson itself makes them floats)
            if dtype.kind == "f":
                return np.asarray(values, dtype=np.float64).astype(dtype)
            raise bad_request(f"{what or 'rows'}: {huge[1]} is out of range for {dtype.name} values")
        raise wrong_type(what, columns, bad, dtype.kind, ragged)
    if dtype.kind in "iu" and kind == "f":
        if not np.all(array == np.trunc(array)):
            bad = first_bad(values, lambda v: not isinstance(v, float) or v.is_integer())
            raise wrong_type(what, columns, bad, dtype.kind, ragged)
        info = np.iinfo(dtype)
        low, high = float(info.min), float(info.max) + 1  # both exact in float64; high excluded
        inside = bool(np.all((array >= low) & (array < high)))
        if inside and dtype.itemsize == 8 and np.any(array == low):
            # -2**63 as a float may be a longer integer that orjson rounded: only an exact int is in range
            inside = first_bad(values, lambda v: isinstance(v, int) or v > low) is None
        if not inside:
            bad = first_bad(
                values, lambda v: info.min <= v <= info.max if isinstance(v, int) else low < v < high
            )
            raise bad_request(
                f"{what or 'rows'}: {bad[1] if bad else 'a value'} is out of range for {dtype.name} values"
            )
    if (
        dtype.kind in "iu"
        and kind in "iu"
        and array.size
        and not (np.iinfo(dtype).min <= array.min() and array.max() <= np.iinfo(dtype).max)
    ):
        bad = first_bad(values, lambda v: np.iinfo(dtype).min <= v <= np.iinfo(dtype).max)
        shown = bad[1] if bad else "a value"
        raise bad_request(f"{what or 'rows'}: {shown} is out of range for {dtype.name} values")
    return array.astype(dtype, copy=False)


def holds_bool(values: Sequence[Any], depth: int) -> bool:
    """True when a regular nested list of `depth` levels holds a JSON boolean (numpy would read it as 0/1)."""
    if depth <= 1:
        return bool in map(type, values)
    return any(holds_bool(row, depth - 1) for row in values)


def first_bad(
    values: Any, ok: Callable[[Any], bool], path: tuple[int, ...] = ()
) -> tuple[tuple[int, ...], Any] | None:
    """Index path and value of the first leaf (nested lists walked) that `ok` refuses."""
    if isinstance(values, list | tuple):
        for i, value in enumerate(values):
            found = first_bad(value, ok, (*path, i))
            if found is not None:
                return found
        return None
    return None if ok(values) else (path, values)


def wrong_type(
    what: str, columns: list[str] | None, bad: tuple[tuple[int, ...], Any] | None, kind: str, otherwise: str
) -> ClientError:
    """A 400 naming the column, the row and the value of the wrong type (`otherwise` when none is found)."""
    if bad is None:
        return bad_request(otherwise)
    path, value = bad
    if not what:  # a row matrix: the second index names the column
        index = path[1] if len(path) > 1 else 0
        what = f"column '{columns[index]}'" if columns and index < len(columns) else f"column {index}"
    row = f" (row {path[0]})" if path else ""
    shown = "" if value is None or isinstance(value, bool) else f" {json.dumps(value)[:40]}"
    return bad_request(f"{what}{row}: expected {EXPECTED[kind]}, got {type_name(value)}{shown}")


# ---- loading -----------------------------------------------------------------------------------


def session_options(threads: int) -> ort.SessionOptions:
    """Sequential execution, `threads` intra-op threads, one inter-op thread, all graph optimisations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def load_model(
    model_dir: Path,
    threads: int = 1,
    *,
    name: str | None = None,
    version: str | None = None,
    sha256: str | None = None,
) -> ServedModel:
    """Load `model_dir/model.onnx` with its modelship.json; name/version/sha256 override the folder's."""
    model_dir = Path(model_dir)
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(
            f"no {MODEL_FILE} in {model_dir}; point MODELSHIP_MODEL_DIR at a fetched model folder"
        )
    config = read_json_file(model_dir / CONFIG_FILE)
    provenance = read_json_file(model_dir / PROVENANCE_FILE)
    try:
        session = ort.InferenceSession(
            str(model_path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises several unrelated types for unreadable graphs
        raise ModelError(
            f"onnxruntime cannot load {model_path}: {exc}; export it again, or fetch it again "
            "(the fetch step checks that it loads)"
        ) from None

    def pick(override: str | None, key: str) -> str | None:
        value = override or config.get(key) or provenance.get(key)
        return str(value) if value else None

    return ServedModel(
        session,
        model_dir,
        config,
        name=pick(name, "name") or model_path.stem,
        version=pick(version, "version") or "0",
        sha256=pick(sha256, "sha256") or file_sha256(model_path),
    )
