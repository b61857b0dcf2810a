"""Recognise the shape of a /predict body and turn it into columns, rows or bare values (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serving.errors import bad_request

SHAPES = (
    "pandas columns {col: {index: value}}, split {columns, data}, records [{col: value}], "
    "MLflow dataframe_split / dataframe_records / instances / inputs, a list of strings or a list of rows"
)
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass(frozen=True, slots=True)
class Columns:
    """Named columns of equal length, one value per row."""

    data: dict[str, list[Any]]
    n_rows: int


@dataclass(frozen=True, slots=True)
class Rows:
    """A list of rows; `columns` names their values (split form) or is None for the model's declared order."""

    rows: list[list[Any]]
    columns: list[str] | None


@dataclass(frozen=True, slots=True)
class Values:
    """One value per row (e.g. a list of strings), for a model that takes a single column."""

    values: list[Any]


Batch = Columns | Rows | Values


def n_rows(batch: Batch) -> int:
    """How many rows the batch holds."""
    if isinstance(batch, Columns):
        return batch.n_rows
    if isinstance(batch, Rows):
        return len(batch.rows)
    return len(batch.values)


def parse(body: Any) -> Batch:
    """Detect the shape of a /predict body; raise a 400 ClientError naming what is wrong."""
    if isinstance(body, list):
        return parse_list(body, "the request")
    if not isinstance(body, dict):
        raise bad_request(f"expected a JSON object or array, got {type_name(body)}; send one of: {SHAPES}")
    if not body:
        raise bad_request(f"empty batch: the request is an empty object; send one of: {SHAPES}")
    if len(body) == 1:
        key = next(iter(body))
        if key in MLFLOW_KEYS:
            return parse_mlflow(key, body[key])
    split_keys = "columns" in body and "data" in body and body.keys() <= {"columns", "data", "index"}
    if split_keys and not (isinstance(body["columns"], dict) and isinstance(body["data"], dict)):
        return parse_split(body, "the request")
    return parse_columns(body, "the request")


def parse_mlflow(key: str, value: Any) -> Batch:
    """Unwrap MLflow's `dataframe_split`, `dataframe_records`, `instances` and `inputs` forms."""
    where = f'"{key}"'
    if key == "dataframe_split":
        if not isinstance(value, dict):
            raise bad_request(f'{where} must be an object {{"columns": [...], "data": [[...]]}}')
        return parse_split(value, where)
    if key == "dataframe_records":
        if not isinstance(value, list) or (value and not isinstance(value[0], dict)):
            raise bad_request(f'{where} must be a list of records [{{"column": value}}, ...]')
        return parse_list(value, where)
    if isinstance(value, dict):
        return parse_columns(value, where)
    if isinstance(value, list):
        return parse_list(value, where)
    raise bad_request(
        f"{where} must be a list of rows or an object of column -> list, got {type_name(value)}"
    )


def parse_list(items: list[Any], where: str) -> Batch:
    """A list of records, of rows, or of bare values (strings or numbers)."""
    if not items:
        raise bad_request(f"empty batch: {where} holds no rows; send at least one")
    first = items[0]
    if isinstance(first, dict):
        return records_to_columns(items, where)
    if isinstance(first, list):
        return Rows(check_rows(items, None, where), None)
    for i, item in enumerate(items):
        if isinstance(item, dict | list):
            raise bad_request(
                f"{where}: item {i} is {type_name(item)} but item 0 is {type_name(first)}; "
                "send all rows in the same form"
            )
    return Values(items)


def parse_split(body: dict[str, Any], where: str) -> Rows:
    """The pandas/MLflow split form {"columns": [...], "data": [[...]], "index": [...]}."""
    extra = [key for key in body if key not in ("columns", "data", "index")]
    if extra:
        raise bad_request(
            f'{where}: unknown key "{extra[0]}"; the split form has "columns", "data" and "index"'
        )
    if not isinstance(body.get("index", []), list):
        raise bad_request(f'{where}: "index" must be a list of row labels, got {type_name(body["index"])}')
    columns, data = body.get("columns"), body.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise bad_request(f'{where}: "columns" must be a list of column names (strings)')
    if len(set(columns)) != len(columns):
        raise bad_request(f'{where}: "columns" names a column twice: {columns}')
    if not isinstance(data, list):
        raise bad_request(f'{where}: "data" must be a list of rows, got {type_name(data)}')
    if not data:
        raise bad_request(f'empty batch: {where} "data" holds no rows; send at least one')
    return Rows(check_rows(data, len(columns), where), columns)


def check_rows(rows: list[Any], width: int | None, where: str) -> list[list[Any]]:
    """Check every row is a list of the same length (`width`, or the first row's)."""
    expected = len(rows[0]) if width is None and isinstance(rows[0], list) else width
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise bad_request(f"{where}: row {i} is {type_name(row)}; expected a list of {expected} values")
        if len(row) != expected:
            raise bad_request(
                f"{where}: row {i} has {len(row)} values, expected {expected} "
                f"({'one per column' if width is not None else 'as many as row 0'})"
            )
    return rows


def records_to_columns(records: list[Any], where: str) -> Columns:
    """[{col: value}, ...] -> columns; every record must name the same columns."""
    keys = list(records[0])
    if not keys:
        raise bad_request(f"{where}: record 0 is empty; name each column's value")
    key_set = records[0].keys()
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise bad_request(
                f"{where}: record {i} is {type_name(record)}; expected an object {{column: value}}"
            )
        if record.keys() != key_set:
            missing = [k for k in keys if k not in record]
            extra = [k for k in record if k not in key_set]
            detail = f"lacks column '{missing[0]}'" if missing else f"has column '{extra[0]}'"
            raise bad_request(
                f"{where}: record {i} {detail} but record 0 does not; every record must name the same columns"
            )
    return Columns({k: [r[k] for r in records] for k in keys}, len(records))


def parse_columns(body: dict[str, Any], where: str) -> Columns:
    """Pandas `columns` form {col: {index: value}} or column lists {col: [values]}."""
    data: dict[str, list[Any]] = {}
    index: list[str] | None = None
    first = ""
    n = -1
    for name, column in body.items():
        if isinstance(column, dict):
            values = list(column.values())
            if index is None:
                index, first = list(column), name
            elif len(values) != len(index) or list(column) != index:
                values = column_by_index(name, column, index, first, where)
        elif isinstance(column, list):
            values = column
        else:
            raise bad_request(
                f"{where}: column '{name}' is {type_name(column)}; expected an object "
                '{"0": value, ...} (pandas orient="columns") or a list of values'
            )
        if len(values) != n:
            if n != -1:
                raise bad_request(
                    f"{where}: column '{name}' has {len(values)} values but column '{next(iter(data))}' "
                    f"has {n}; "
                    "every column needs one value per row"
                )
            n = len(values)
        data[name] = values
    if n == 0:
        raise bad_request(f"empty batch: {where} has columns but no rows; send at least one value per column")
    return Columns(data, n)


def column_by_index(name: str, column: dict[str, Any], index: list[str], first: str, where: str) -> list[Any]:
    """The values of one pandas column in the row order of the first column's index."""
    if len(column) == len(index):
        values = list(column.values())
        if list(column) == index:
            return values
        try:
            return [column[key] for key in index]
        except KeyError:
            pass
    missing = [key for key in index if key not in column]
    extra = [key for key in column if key not in index]
    what = f"lacks row '{missing[0]}'" if missing else f"has row '{extra[0]}'"
    raise bad_request(
        f"{where}: column '{name}' {what} that column '{first}' "
        f"{'has' if missing else 'lacks'}; every column needs the same row index"
    )


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_name(value: Any) -> str:
    """The JSON type of a parsed value with its article ("a number", "an array"), for error messages."""
    name = json_type(value)
    return name if name == "null" else ("an " if name[0] in "ao" else "a ") + name
