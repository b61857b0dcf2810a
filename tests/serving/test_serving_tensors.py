"""Tensor conversion (serving.tensors): out-of-range integers and the one-pass path for pandas columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.errors import ClientError
from serving.model import load_model


def test_python_integers_past_64_bits(models: dict[str, Path]) -> None:
    assert load_model(models["matrix_sidecar"]).predict([[10**30, 0, 0]]) == {
        "prediction": [pytest.approx(1e30)]
    }
    with pytest.raises(ClientError, match="out of range for int64"):
        load_model(models["mixed"]).predict([{"count": 10**30, "ratio": 0.5, "flag": True, "name": "x"}])


def test_pandas_columns_take_the_one_pass_path_only_when_nothing_is_amiss(models: dict[str, Path]) -> None:
    model = load_model(models["numeric"])
    body: dict[str, Any] = {"x": {"0": 1}, "y": {"0": 0.5}, "z": {"0": 2}}
    fast = model.pandas_columns_feeds(body)
    assert fast is not None
    feeds, rows = fast
    assert rows == 1
    assert {name: (a.dtype.name, a.shape) for name, a in feeds.items()} == {
        "x": ("int64", (1, 1)),
        "y": ("float32", (1, 1)),
        "z": ("float64", (1,)),
    }
    for surprise in ({**body, "w": {"0": 1}}, {**body, "y": {"0": "a"}}, {**body, "z": {"1": 2}}, [body]):
        assert model.pandas_columns_feeds(surprise) is None
    assert load_model(models["mixed"]).column_feeds == []  # a string input: always the general path
    assert load_model(models["matrix_sidecar"]).column_feeds == []
