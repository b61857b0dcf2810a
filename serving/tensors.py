"""Tensor conversion: JSON values to the graph's typed and shaped inputs, or a 400 saying why not."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from serving.errors import ClientError, bad_request
from serving.payload import type_name

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
EXPECTED = {
    "f": "a number",
    "i": "an integer",
    "u": "a non-negative integer",
    "b": "a boolean",
    "O": "a string",
}


class FastPath(NamedTuple):
    """How `fit` may take a numeric input with a free batch dimension without the general checks."""

    kinds: str  # the JSON-derived numpy kinds taken as they are
    ndim: int  # the rank of the JSON values
    add_axis: bool  # whether to add a trailing axis of 1
    width: int | None  # the fixed width of a 2-D input


class ColumnFeed(NamedTuple):
    """One input of the one-pass path for pandas columns: a numeric column taking one value per row."""

    name: str
    dtype: np.dtype[Any]
    kinds: str
    add_axis: bool


class BadValue(NamedTuple):
    """The first refused leaf of nested lists: its index path and its value."""

    path: tuple[int, ...]
    value: Any


class Feeds(NamedTuple):
    """The checked graph inputs of a request, and its number of rows."""

    tensors: dict[str, np.ndarray]
    rows: int


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, ONNX type, numpy dtype (None unless a tensor) and shape."""

    name: str
    onnx_type: str
    dtype: np.dtype[Any] | None
    shape: tuple[int | None, ...] | None
    fast: FastPath | None = None  # None: `fit` takes the general path
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


def fast_path(dtype: np.dtype[Any] | None, shape: tuple[int | None, ...] | None) -> FastPath | None:
    """How `fit` may skip the general checks for this input, or None when it may not."""
    kinds = {"f": "fiu", "i": "i", "b": "b"}.get(dtype.kind if dtype is not None else "")
    if kinds is None or not shape or shape[0] is not None or len(shape) > 2:
        return None
    if len(shape) == 1:
        return FastPath(kinds, 1, False, None)
    if shape[1] in (1, None):
        return FastPath(kinds, 1, True, None)
    return FastPath(kinds, 2, False, shape[1])


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


def first_bad(values: Any, ok: Callable[[Any], bool], path: tuple[int, ...] = ()) -> BadValue | None:
    """Index path and value of the first leaf (nested lists walked) that `ok` refuses."""
    if isinstance(values, list | tuple):
        for i, value in enumerate(values):
            found = first_bad(value, ok, (*path, i))
            if found is not None:
                return found
        return None
    return None if ok(values) else BadValue(path, values)


def wrong_type(
    what: str, columns: list[str] | None, bad: BadValue | None, kind: str, otherwise: str
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


def pandas_columns_feeds(column_feeds: Sequence[ColumnFeed], body: Any) -> Feeds | None:
    """Feeds for the commonest request, pandas columns of numbers with one input each, in one pass.

    None at the first surprise (another shape, a missing or extra column, a row index that differs,
    a value of another type): the general path then parses the body and says what is wrong.
    """
    if type(body) is not dict or len(body) != len(column_feeds):
        return None
    feeds: dict[str, np.ndarray] = {}
    index: list[Any] | None = None
    for name, dtype, kinds, add_axis in column_feeds:
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
    return Feeds(feeds, len(index or ()))
