"""An ONNX model served from a model folder: JSON rows in, clean JSON predictions out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from serving import payload, v2
from serving.errors import ClientError, ModelError, bad_request
from serving.model_config import input_layout, read_json_file
from serving.model_folder import CONFIG_FILE, MODEL_FILE, PROVENANCE_FILE, file_sha256
from serving.outputs import OutputsError, item_schema, parse_answer
from serving.payload import Batch, Columns, Rows, Values
from serving.tensors import Feeds, TensorSpec, fit, pandas_columns_feeds
from serving.tokenizer import TEXT_INPUT, TokenizerError, load_text_encoder

__all__ = ["ModelError", "ServedModel", "load_model"]

TEXT_SPEC = TensorSpec(
    TEXT_INPUT, "tensor(string)", np.dtype(np.object_), (None,), None, f"column '{TEXT_INPUT}'"
)


class Answered(NamedTuple):
    """Each response field's JSON values for a request, and its number of rows."""

    values: dict[str, list[Any]]
    rows: int


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
        layout = input_layout(self.inputs, config, session.get_modelmeta().custom_metadata_map, where)
        self.matrix, self.width, self.columns = layout.matrix, layout.width, layout.columns
        self.column_feeds = layout.column_feeds
        self.column_set = frozenset(self.columns)
        self.input_by_name = {i.name: i for i in self.inputs}
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

    def answer(self, body: Any) -> Answered:
        """Each response field's JSON values for a /predict-style body, and the number of rows."""
        feeds, rows = self.prepare(body)
        return Answered(self.values(self.run(self.fetch, feeds)), rows)

    def prepare(self, body: Any) -> Feeds:
        """The checked feeds of a /predict-style body (a 400 ClientError if it does not fit), and its rows."""
        fast = pandas_columns_feeds(self.column_feeds, body) if self.column_feeds else None
        if fast is not None:
            return fast
        batch = body if isinstance(body, Columns | Rows | Values) else payload.parse(body)
        rows = payload.n_rows(batch)
        return Feeds(self.feeds(batch, rows), rows)

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

    def pandas_columns_feeds(self, body: Any) -> Feeds | None:
        """Feeds for pandas columns of numbers in one pass; None at the first surprise."""
        return pandas_columns_feeds(self.column_feeds, body)

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

    # ---- Open Inference Protocol (serving.v2) --------------------------------------------------

    def infer_v2(self, body: Any) -> dict[str, Any]:
        """The Open Inference Protocol infer response for a parsed JSON request."""
        return v2.infer(self, body)

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
        return v2.metadata(self)

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
