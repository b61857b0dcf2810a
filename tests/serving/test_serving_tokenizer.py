"""serving.tokenizer and serving.postprocess on the real all-MiniLM-L6-v2 tokenizer and example model:
text in, padded and truncated token tensors out; softmax, argmax to label names and the score."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from tokenizers import Tokenizer

from examples import generate
from serving.app import create_app
from serving.config import Settings
from serving.model import ModelError, load_model
from serving.tokenizer import TextEncoder, TokenInput, TokenizerError, token_inputs

INT64 = np.dtype(np.int64)


@pytest.fixture(scope="module")
def minilm() -> Path:
    """The generated minilm-sentiment folder (built once, cached under .modelship/)."""
    return generate.minilm_folder()


def encoder(folder: Path, max_length: int, length: int | None = None) -> TextEncoder:
    """A text encoder on the example's tokenizer.json for input_ids and attention_mask."""
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return TextEncoder(
        tokenizer,
        [TokenInput("input_ids", INT64, length), TokenInput("attention_mask", INT64, length)],
        max_length,
    )


def test_batch_is_padded_to_its_longest_row(minilm: Path) -> None:
    feeds = encoder(minilm, 256).encode(["short", "a rather longer sentence of several words"])
    assert feeds["input_ids"].shape == feeds["attention_mask"].shape
    assert feeds["input_ids"].shape[1] < 20  # not tokenizer.json's fixed 128
    assert feeds["attention_mask"][0].tolist().count(1) == 3  # [CLS] short [SEP]
    assert feeds["input_ids"][0, 0] == 101
    assert feeds["input_ids"][0, -1] == 0


def test_long_text_is_truncated_to_max_length(minilm: Path) -> None:
    feeds = encoder(minilm, 16).encode(["word " * 100])
    assert feeds["input_ids"].shape == (1, 16)
    assert feeds["input_ids"][0, -1] == 102  # still ends with [SEP]


def test_fixed_sequence_length_pads_every_batch(minilm: Path) -> None:
    feeds = encoder(minilm, 32, length=32).encode(["hi"])
    assert feeds["input_ids"].shape == (1, 32)


@pytest.mark.parametrize(
    ("inputs", "complaint"),
    [
        pytest.param([("text", np.dtype(object), (None,))], "not input_ids", id="no-input-ids"),
        pytest.param(
            [("input_ids", INT64, (None, None)), ("pixels", INT64, (None, None))],
            "'pixels'",
            id="other-input",
        ),
        pytest.param([("input_ids", np.dtype(np.float32), (None, None))], "int64 or int32", id="float-ids"),
        pytest.param(
            [("input_ids", INT64, (None, 8)), ("attention_mask", INT64, (None, 16))],
            "[8, 16]",
            id="two-lengths",
        ),
    ],
)
def test_graph_inputs_a_tokenizer_cannot_fill(inputs: list[Any], complaint: str) -> None:
    with pytest.raises(TokenizerError, match=re.escape(complaint)):
        token_inputs(inputs)


def copy_with_config(minilm: Path, tmp_path: Path, **changes: Any) -> Path:
    """The example folder with modelship.json changed."""
    folder = tmp_path / "model"
    shutil.copytree(minilm, folder)
    config = json.loads((folder / "modelship.json").read_text(encoding="utf-8")) | changes
    (folder / "modelship.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_softmax_argmax_labels_and_score(minilm: Path, tmp_path: Path) -> None:
    outputs = {
        "label": {
            "output": "logits",
            "postprocess": "argmax",
            "labels": ["negative", "positive"],
            "unwrap": True,
        },
        "score": {"output": "logits", "postprocess": "score", "unwrap": True},
        "probabilities": {"output": "logits", "postprocess": "softmax"},
    }
    model = load_model(copy_with_config(minilm, tmp_path, outputs=outputs))
    answer = model.predict(["MLOps is critical for robustness", "Containers are more or less interesting"])
    assert answer["label"] == ["positive", "negative"]
    probabilities = np.asarray(answer["probabilities"])
    assert probabilities.shape == (2, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert answer["score"] == pytest.approx(probabilities.max(axis=1).tolist())
    assert model.text_encoder is not None
    logits = model.session.run(["logits"], model.text_encoder.encode(["MLOps is critical for robustness"]))[0]
    assert answer["score"][0] == pytest.approx(1 / (1 + np.exp(logits[0, 0] - logits[0, 1])), rel=1e-6)
    schema = model.response_schemas()["/predict"]["properties"]
    assert schema["label"]["oneOf"][0] == {"type": "string", "enum": ["negative", "positive"]}


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        pytest.param(
            {"outputs": {"x": {"output": "logits", "postprocess": "max"}}}, "use one of softmax", id="step"
        ),
        pytest.param(
            {"outputs": {"x": {"output": "logits", "labels": ["a", "b"]}}}, '"argmax" only', id="labels"
        ),
        pytest.param(
            {"outputs": {"x": {"output": "logits", "postprocess": "argmax", "labels": ["a", "b", "c"]}}},
            "names 3",
            id="label-count",
        ),
        pytest.param({"tokenizer": {"max_length": "long"}}, "max_length", id="max-length"),
        pytest.param({"tokenizer": []}, '"tokenizer" must be an object', id="tokenizer-settings"),
    ],
)
def test_bad_config_is_a_model_error(
    minilm: Path, tmp_path: Path, changes: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ModelError, match=re.escape(complaint)):
        load_model(copy_with_config(minilm, tmp_path, **changes)).warm_up()


def test_unreadable_tokenizer_is_a_model_error(minilm: Path, tmp_path: Path) -> None:
    folder = copy_with_config(minilm, tmp_path)
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="is not a Hugging Face tokenizer"):
        load_model(folder)


def test_app_answers_text_and_refuses_other_values(minilm: Path) -> None:
    with TestClient(create_app(Settings(model_dir=minilm))) as client:
        assert client.post("/predict", json=["MLOps is critical for robustness"]).json() == {"positive": True}
        assert client.post("/predict", json=[{"text": "The build is flaky"}]).status_code == 200
        metadata = client.get("/metadata").json()
        assert metadata["inputs"] == [{"name": "text", "dtype": "string", "shape": [None]}]
        assert metadata["tokenizer"]["max_length"] == 256
        for bad in ([12345], [{"input_ids": [1, 2]}], [["two", "values"]], [None]):
            answer = client.post("/predict", json=bad)
            assert answer.status_code == 400, (bad, answer.text)
            assert "error" in answer.json()
