"""A text/csv request body (MLflow's pandas CSV: a header row, then one line per row) -> named rows.

CSV has no types, so each cell is read as the model's input for its column takes it: a string input
keeps the text, other inputs get numbers and true/false; anything else stays text, so the model's
JSON checks refuse it with the same message as in JSON (`column 'RM' (row 0): expected a number...`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from serving.errors import bad_request
from serving.payload import Rows

BOOLEANS = {"true": True, "false": False}


def cell(text: str, kind: str | None) -> Any:
    """One CSV cell as the JSON value it stands for, for an input of numpy `kind` (None: unknown column)."""
    if kind == "O":
        return text
    if text == "":
        return None  # pandas reads an empty cell as missing: refused like JSON null
    boolean = BOOLEANS.get(text.lower())
    if boolean is not None:
        return boolean
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def parse(body: bytes, kind_of: Callable[[str], str | None]) -> Rows:
    """Named rows from a CSV body; a 400 naming the line for bad CSV. `kind_of(column)` gives the input
    kind of each column. A first column with an empty name is pandas' row index (to_csv's default) and
    is left out."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_request(f"the CSV body is not UTF-8 (byte {exc.start}); send it encoded as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(header):
            raise bad_request("the CSV body has no header row; its first line must name the columns")
        skip = 1 if header[0] == "" else 0
        columns = header[skip:]
        if "" in columns:
            raise bad_request(f"CSV line 1: column {columns.index('') + skip + 1} has no name")
        if len(set(columns)) != len(columns):
            twice = next(c for c in columns if columns.count(c) > 1)
            raise bad_request(f"CSV line 1: the header names column '{twice}' twice")
        kinds = [kind_of(column) for column in columns]
        rows = []
        for line in reader:
            if not line:
                continue  # a blank line, as pandas skips it
            if len(line) != len(header):
                raise bad_request(
                    f"CSV line {reader.line_num} has {len(line)} fields but the header has {len(header)}; "
                    "every line needs one value per column"
                )
            rows.append([cell(text, kind) for text, kind in zip(line[skip:], kinds, strict=True)])
    except csv.Error as exc:
        raise bad_request(f"CSV line {reader.line_num} is not valid CSV: {exc}") from None
    if not rows:
        raise bad_request("empty batch: the CSV body has a header but no rows; send at least one line")
    return Rows(rows, columns)
