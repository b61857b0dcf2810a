"""Comparing a served answer with the expected one: floats within tolerance, everything else exactly."""

from __future__ import annotations

import math
from typing import Any

import pytest

from scripts.compare import Difference, compare, describe


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        pytest.param({"prediction": [20.354999542236328]}, {"prediction": [20.355]}, id="float32-vs-rounded"),
        pytest.param({"prediction": [1.0]}, {"prediction": [1.0000099]}, id="within-rel-1e-5"),
        pytest.param({"prediction": [0.0]}, {"prediction": [9e-7]}, id="near-zero-within-abs-1e-6"),
        pytest.param({"prediction": [3]}, {"prediction": [3.0]}, id="int-vs-float"),
        pytest.param({"prediction": [math.nan]}, {"prediction": [math.nan]}, id="nan-equals-nan"),
        pytest.param({"positive": True}, {"positive": True}, id="bool"),
        pytest.param({"label": ["a", "b"]}, {"label": ["a", "b"]}, id="strings"),
        pytest.param({"b": 1, "a": [{"x": None}]}, {"a": [{"x": None}], "b": 1}, id="key-order-ignored"),
    ],
)
def test_equal_answers(expected: Any, actual: Any) -> None:
    assert compare(expected, actual) == []


@pytest.mark.parametrize(
    ("expected", "actual", "path", "reason"),
    [
        pytest.param(
            {"prediction": [1.0]}, {"prediction": [1.0001]}, "$.prediction[0]", "off by", id="beyond-rel"
        ),
        pytest.param(
            {"prediction": [0.0]}, {"prediction": [2e-6]}, "$.prediction[0]", "off by", id="beyond-abs"
        ),
        pytest.param({"p": [math.nan]}, {"p": [0.0]}, "$.p[0]", "off by", id="nan-vs-number"),
        pytest.param({"p": [math.inf]}, {"p": [1e308]}, "$.p[0]", "off by", id="inf-vs-large"),
        pytest.param(
            {"positive": True}, {"positive": 1}, "$.positive", "number instead of boolean", id="bool-vs-1"
        ),
        pytest.param({"p": [1, 2]}, {"p": [1, 2, 3]}, "$.p", "3 items instead of 2", id="length"),
        pytest.param({"p": [1]}, {}, "$.p", "missing", id="missing-field"),
        pytest.param({}, {"extra": 1}, "$.extra", "unexpected field", id="extra-field"),
        pytest.param({"l": "cat"}, {"l": "dog"}, "$.l", "different value", id="string"),
        pytest.param({"p": [1.0]}, {"p": 1.0}, "$.p", "number instead of array", id="unwrapped"),
        pytest.param([{"a": [[1.0, 2.0]]}], [{"a": [[1.0, 2.5]]}], "$[0].a[0][1]", "off by", id="nested"),
    ],
)
def test_different_answers(expected: Any, actual: Any, path: str, reason: str) -> None:
    differences = compare(expected, actual)
    assert [d.path for d in differences] == [path]
    assert reason in differences[0].reason


def test_tolerance_can_be_tightened() -> None:
    assert compare([1.0], [1.000001]) == []
    assert compare([1.0], [1.000001], rel_tol=1e-9, abs_tol=0) != []


def test_every_difference_is_listed() -> None:
    differences = compare({"p": [1.0, 2.0, 3.0]}, {"p": [1.5, 2.0, 3.5]})
    assert [d.path for d in differences] == ["$.p[0]", "$.p[2]"]


@pytest.mark.parametrize(
    ("count", "tail"),
    [
        pytest.param(1, "(off by 1)", id="one"),
        pytest.param(3, "(off by 3)", id="at-limit"),
        pytest.param(5, "; and 2 more", id="more"),
    ],
)
def test_describe(count: int, tail: str) -> None:
    differences = [Difference(f"$.p[{i}]", 0, i + 1, f"off by {i + 1}") for i in range(count)]
    text = describe(differences, limit=3)
    assert text.startswith("$.p[0]: expected 0, got 1 (off by 1)")
    assert text.endswith(tail)


def test_long_values_are_cut() -> None:
    text = str(Difference("$", list(range(100)), None, "missing"))
    assert "…" in text
    assert len(text) < 200
