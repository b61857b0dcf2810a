"""The committed example models load in onnxruntime, reproduce samples.json, and regenerate identically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from examples import generate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HOUSING_COLUMNS = ["CHAS", "RM", "TAX", "PTRATIO", "B", "LSTAT"]


def session(name: str) -> ort.InferenceSession:
    """An onnxruntime session on the committed example model."""
    return ort.InferenceSession(str(EXAMPLES / name / "model.onnx"), providers=["CPUExecutionProvider"])


def samples(name: str) -> list[dict[str, Any]]:
    """The committed samples.json of an example."""
    loaded: list[dict[str, Any]] = json.loads((EXAMPLES / name / "samples.json").read_text(encoding="utf-8"))
    return loaded


def housing_rows(request: Any) -> list[dict[str, Any]]:
    """The rows of a pandas columns / split / records request, as dicts keyed by column."""
    if isinstance(request, list):
        return request
    if "columns" in request and "data" in request:
        return [dict(zip(request["columns"], row, strict=True)) for row in request["data"]]
    index = list(request[HOUSING_COLUMNS[0]])
    return [{column: request[column][i] for column in HOUSING_COLUMNS} for i in index]


def housing_predict(rows: list[dict[str, Any]]) -> list[float]:
    """Run the committed housing graph on rows, one [n, 1] feed per column."""
    feeds = {
        column: np.asarray(
            [[row[column]] for row in rows], dtype=np.int64 if column == "CHAS" else np.float32
        )
        for column in HOUSING_COLUMNS
    }
    (prediction,) = session("housing").run(["variable"], feeds)
    return [float(value) for value in prediction.reshape(-1)]


def sentiment_labels(texts: list[str]) -> list[int]:
    """Run the committed sentiment graph on texts and return its labels."""
    label, probabilities = session("sentiment").run(["label", "probabilities"], {"text": np.asarray(texts)})
    assert [max(row, key=row.get) for row in probabilities] == label.tolist()
    return [int(value) for value in label]


def test_housing_graph_has_one_input_per_column() -> None:
    """Columns reach the model by name: CHAS as int64, the rest as float, each [None, 1]."""
    inputs = [(i.name, i.type, i.shape) for i in session("housing").get_inputs()]
    assert inputs == [
        (column, "tensor(int64)" if column == "CHAS" else "tensor(float)", [None, 1])
        for column in HOUSING_COLUMNS
    ]
    outputs = [(o.name, o.type, o.shape) for o in session("housing").get_outputs()]
    assert outputs == [("variable", "tensor(float)", [None, 1])]


def test_housing_reference_row() -> None:
    """The issue's verbatim request predicts the synthetic formula's 20.355."""
    reference = dict(zip(HOUSING_COLUMNS, [0, 6.575, 296.0, 15.3, 396.9, 4.98], strict=True))
    assert housing_predict([reference]) == pytest.approx([20.355], abs=1e-4)


@pytest.mark.parametrize("index", range(3), ids=["columns", "split-batch-of-3", "records"])
def test_housing_samples(index: int) -> None:
    """Each housing sample's response is what the committed graph answers."""
    sample = samples("housing")[index]
    rows = housing_rows(sample["request"])
    assert sample["response"] == {"prediction": pytest.approx(housing_predict(rows), rel=1e-6)}


def test_housing_verbatim_request_is_the_issues() -> None:
    """samples.json opens with the issue's exchange, in pandas orient="columns" form."""
    assert samples("housing")[0]["request"] == {
        "CHAS": {"0": 0},
        "RM": {"0": 6.575},
        "TAX": {"0": 296.0},
        "PTRATIO": {"0": 15.3},
        "B": {"0": 396.9},
        "LSTAT": {"0": 4.98},
    }


def test_sentiment_graph_signature() -> None:
    """A [None] string input "text"; outputs "label" (int64) and ZipMap "probabilities"."""
    model = session("sentiment")
    assert [(i.name, i.type, i.shape) for i in model.get_inputs()] == [("text", "tensor(string)", [None])]
    assert [(o.name, o.type) for o in model.get_outputs()] == [
        ("label", "tensor(int64)"),
        ("probabilities", "seq(map(int64,tensor(float)))"),
    ]


def test_sentiment_required_verdicts() -> None:
    """The issue's two sentences get the issue's answers."""
    assert sentiment_labels(
        ["MLOps is critical for robustness", "Containers are more or less interesting"]
    ) == [
        1,
        0,
    ]


def test_sentiment_samples() -> None:
    """Each sentiment sample's response is the graph's label as bool, unwrapped for one row."""
    for sample in samples("sentiment"):
        verdicts = [bool(label) for label in sentiment_labels(sample["request"])]
        expected = verdicts[0] if len(verdicts) == 1 else verdicts
        assert sample["response"] == {"positive": expected}


def test_sentiment_config_maps_label_to_positive() -> None:
    """modelship.json turns the label output into the "positive" field."""
    config = json.loads((EXAMPLES / "sentiment" / "modelship.json").read_text(encoding="utf-8"))
    assert config["outputs"] == {"positive": {"output": "label", "dtype": "bool", "unwrap": True}}


def test_required_sentences_are_not_training_data() -> None:
    """The verdicts are generalization, not memory."""
    texts, _ = generate.sentiment_corpus()
    assert not set(texts) & set(generate.SENTIMENT_REQUIRED)


def test_synthetic_housing_noise_is_orthogonal() -> None:
    """The residualized noise leaves least squares exactly on the documented formula."""
    x, target = generate.housing_data()
    design = np.column_stack([np.ones(len(x)), x])
    fitted = np.linalg.lstsq(design, target, rcond=None)[0]
    expected = [generate.HOUSING_INTERCEPT, *generate.HOUSING_COEFFICIENTS]
    assert fitted == pytest.approx(expected, abs=1e-9)
    assert np.std(target - design @ fitted) > 1.0


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    """Running the generator again writes exactly the committed files."""
    assert generate.main(["--dest", str(tmp_path)]) == 0
    assert generate.differing_files(tmp_path, EXAMPLES) == []
    for name in ("housing", "sentiment"):
        assert (tmp_path / name / "model.onnx").read_bytes() == (EXAMPLES / name / "model.onnx").read_bytes()


def test_check_reports_stale_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check fails, naming the files, when a folder is out of date."""
    assert generate.main(["--dest", str(tmp_path)]) == 0
    (tmp_path / "sentiment" / "samples.json").write_text("[]\n", encoding="utf-8")
    assert generate.main(["--check", "--dest", str(tmp_path)]) == 1
    assert "sentiment/samples.json" in capsys.readouterr().err
