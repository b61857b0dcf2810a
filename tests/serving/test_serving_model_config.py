"""The model folder's configuration (serving.model_config): columns and answers it cannot serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serving_models import matrix_graph, mixed_graph, save

from serving.model import ModelError, load_model


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"outputs": {"p": {"output": "nope"}}}, 'field "p" must name a graph output (Y)', id="bad-output"
        ),
        pytest.param(
            {"outputs": {"p": {"output": "Y", "dtype": "complex"}}}, "dtype 'complex'", id="bad-cast"
        ),
        pytest.param({"outputs": []}, '"outputs" must be an object', id="outputs-list"),
        pytest.param(
            {"columns": ["a", "b"]}, "2 columns declared (a, b) but graph input 'X' takes 3", id="width"
        ),
        pytest.param({"columns": ["a", "a", "b"]}, "names a column twice", id="duplicate-columns"),
        pytest.param({"columns": "a,b,c"}, "must be a non-empty list", id="columns-string"),
    ],
)
def test_bad_model_config_is_refused_with_a_reason(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    folder = save(tmp_path / "m", matrix_graph(), config)
    with pytest.raises(ModelError) as error:
        load_model(folder)
    assert message in str(error.value)


def test_declared_columns_must_match_per_column_inputs(tmp_path: Path) -> None:
    folder = save(tmp_path / "m", mixed_graph(), {"columns": ["count", "ratio", "flag", "other"]})
    with pytest.raises(ModelError, match="differ from the graph inputs"):
        load_model(folder)
    reordered = save(tmp_path / "r", mixed_graph(), {"columns": ["name", "flag", "ratio", "count"]})
    model = load_model(reordered)
    assert model.predict([["x", True, 0.5, 1]])["prediction"]["total"] == [1.5]  # the declared order
