"""Compare two JSON answers, numbers within a tolerance, and say where they differ (pure)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from serving.payload import json_type

REL_TOL = 1e-5
ABS_TOL = 1e-6


@dataclass(frozen=True)
class Difference:
    """One place where the actual answer differs from the expected one."""

    path: str
    expected: Any
    actual: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: expected {short(self.expected)}, got {short(self.actual)} ({self.reason})"


def short(value: Any, limit: int = 80) -> str:
    """A JSON rendering of `value`, cut to `limit` characters."""
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_number(value: Any) -> bool:
    """True for JSON numbers (bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def numbers_close(expected: float, actual: float, rel_tol: float, abs_tol: float) -> bool:
    """Whether two numbers agree within the tolerances (NaN equals NaN, infinities must match)."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return math.isclose(expected, actual, rel_tol=rel_tol, abs_tol=abs_tol)


def compare(
    expected: Any, actual: Any, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL, path: str = "$"
) -> list[Difference]:
    """Every difference between two JSON values; numbers compare with tolerance, all else exactly."""
    if is_number(expected) and is_number(actual):
        if numbers_close(float(expected), float(actual), rel_tol, abs_tol):
            return []
        return [Difference(path, expected, actual, f"off by {abs(float(actual) - float(expected)):.3g}")]
    if isinstance(expected, dict) and isinstance(actual, dict):
        differences = []
        for key in expected:
            if key not in actual:
                differences.append(Difference(f"{path}.{key}", expected[key], None, "missing"))
            else:
                differences += compare(
                    expected[key], actual[key], rel_tol=rel_tol, abs_tol=abs_tol, path=f"{path}.{key}"
                )
        differences += [
            Difference(f"{path}.{key}", None, actual[key], "unexpected field")
            for key in actual
            if key not in expected
        ]
        return differences
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [Difference(path, expected, actual, f"{len(actual)} items instead of {len(expected)}")]
        differences = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            differences += compare(want, got, rel_tol=rel_tol, abs_tol=abs_tol, path=f"{path}[{i}]")
        return differences
    if json_type(expected) != json_type(actual):
        return [Difference(path, expected, actual, f"{json_type(actual)} instead of {json_type(expected)}")]
    if expected != actual:
        return [Difference(path, expected, actual, "different value")]
    return []


def describe(differences: list[Difference], limit: int = 3) -> str:
    """The first few differences in one line, and how many more there are."""
    shown = "; ".join(str(d) for d in differences[:limit])
    more = len(differences) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
