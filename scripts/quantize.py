"""The int8 variant of a fetched model, and the accuracy gate it must pass against the fp32 model.

onnxruntime's `quantize_dynamic(model_input, model_output, weight_type=QuantType.QInt8)` stores the
weights of MatMul/Gemm-like nodes as int8 and quantizes their activations at run time ("Dynamic
quantization converts weights to INT8 while computing activations in floating-point": onnxruntime's
Python API reference, https://www.mintlify.com/microsoft/onnxruntime/api/python/quantization). By
default it targets MatMul and Gemm, so a model made of other operators, such as ai.onnx.ml's
LinearRegressor, comes out unchanged. Quantization runs here, on the machine running the pipeline:
the serving image drops onnxruntime/quantization, and needs only the operators the quantized graph
uses, which are core onnxruntime kernels.

The gate runs both models in-process with serving.model, the code inside the image, on the same
bodies: the samples and generated inputs. Labels (booleans, strings, integers) must agree exactly;
numbers must be within the absolute or the relative error allowed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import compare, gha, provenance
from scripts.payloads import matrix_rows, predict_payloads, records, signature
from serving.model_folder import MODEL_FILE, PROVENANCE_FILE, file_sha256

VARIANTS = ("int8",)
TAG_SUFFIX = {"int8": "-int8"}
GENERATED_ROWS = 8
TIMED_ROUNDS = 5


@dataclass(frozen=True)
class Settings:
    """The variant asked for and the gate's thresholds."""

    variant: str
    max_abs_error: float
    max_rel_error: float


@dataclass(frozen=True)
class Agreement:
    """How the int8 answers compare with the fp32 ones over every leaf of every answer."""

    labels: int = 0
    labels_agreeing: int = 0
    numbers: int = 0
    numbers_within: int = 0
    worst_abs_error: float = 0.0
    worst_rel_error: float = 0.0
    mismatched_shapes: int = 0

    @property
    def total(self) -> int:
        """Leaves compared (a mismatched shape counts as one)."""
        return self.labels + self.numbers + self.mismatched_shapes

    @property
    def fraction(self) -> float:
        """The share of leaves that agree (labels equal, numbers within the thresholds)."""
        return (self.labels_agreeing + self.numbers_within) / self.total if self.total else 1.0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(
            self.labels + other.labels,
            self.labels_agreeing + other.labels_agreeing,
            self.numbers + other.numbers,
            self.numbers_within + other.numbers_within,
            max(self.worst_abs_error, other.worst_abs_error),
            max(self.worst_rel_error, other.worst_rel_error),
            self.mismatched_shapes + other.mismatched_shapes,
        )


@dataclass(frozen=True)
class GateReport:
    """The variant against the fp32 model: sizes, in-process latency, agreement and the verdict."""

    settings: Settings
    fp32_sha256: str
    variant_sha256: str
    fp32_bytes: int
    variant_bytes: int
    fp32_ms: float
    variant_ms: float
    bodies: int
    agreement: Agreement

    @property
    def size_ratio(self) -> float:
        return self.variant_bytes / self.fp32_bytes

    @property
    def latency_ratio(self) -> float:
        return self.variant_ms / self.fp32_ms if self.fp32_ms else math.nan

    @property
    def passed(self) -> bool:
        """All labels agree and every number is within the thresholds."""
        return self.agreement.total > 0 and self.agreement.fraction == 1.0

    def verdict(self) -> str:
        """One line: the gate's decision and the number behind it."""
        found = self.agreement
        line = (
            f"{self.settings.variant} agrees with fp32 on {found.fraction:.1%} of "
            f"{found.total} answers over {self.bodies} requests"
        )
        if self.passed:
            return f"✅ {line}"
        return (
            f"❌ {line}: {found.labels - found.labels_agreeing} of {found.labels} labels differ, "
            f"{found.numbers - found.numbers_within} of {found.numbers} numbers are beyond "
            f"max-abs-error {self.settings.max_abs_error:g} and "
            f"max-rel-error {self.settings.max_rel_error:g} "
            f"(worst {found.worst_abs_error:.4g} absolute, {found.worst_rel_error:.2%} relative)"
            + (f", {found.mismatched_shapes} answers differ in shape" if found.mismatched_shapes else "")
            + "; the model does not survive int8 quantization: ship it without 'quantize', or raise the "
            "thresholds if that error is acceptable"
        )

    def rows(self) -> list[tuple[str, str]]:
        """The figures, for a key-value table."""
        found = self.agreement
        return [
            ("agreement", f"{found.fraction:.1%} ({found.labels_agreeing}/{found.labels} labels, "
             f"{found.numbers_within}/{found.numbers} numbers)"),
            ("worst error", f"{found.worst_abs_error:.4g} absolute, {found.worst_rel_error:.2%} relative"),
            ("model size", f"{self.variant_bytes:,} bytes vs {self.fp32_bytes:,} bytes fp32 "
             f"({self.size_ratio:.2f}x)"),
            ("in-process latency", f"{self.variant_ms:.1f} ms vs {self.fp32_ms:.1f} ms fp32 per round of "
             f"{self.bodies} requests ({self.latency_ratio:.2f}x)"),
            ("fp32 sha256", f"`{self.fp32_sha256}`"),
        ]  # fmt: skip

    def summary(self) -> str:
        """Verdict first, then the figures."""
        return f"### {self.verdict()}\n\n{gha.key_value_table(self.rows())}\n"


# ---- pure decisions ----------------------------------------------------------------------------


def parse_settings(variant: str, max_abs_error: str, max_rel_error: str) -> Settings | None:
    """The checked inputs; None when no variant is asked for."""
    if not variant:
        return None
    if variant not in VARIANTS:
        raise gha.StepError(
            f"{gha.input_name('quantize')} is {variant!r}; "
            "the one variant supported is int8 (or leave it empty)"
        )
    limits = {}
    for name, text in (("max-abs-error", max_abs_error), ("max-rel-error", max_rel_error)):
        try:
            limits[name] = float(text)
        except ValueError:
            raise gha.StepError(f"{gha.input_name(name)} must be a number, not {text!r}") from None
        if not math.isfinite(limits[name]) or limits[name] < 0:
            raise gha.StepError(f"{gha.input_name(name)} must be zero or more, not {text!r}")
    return Settings(variant, limits["max-abs-error"], limits["max-rel-error"])


def is_measure(value: Any) -> bool:
    """A float leaf: regressor output, compared within thresholds (ints and bools are labels)."""
    return isinstance(value, float)


def agreement(reference: Any, candidate: Any, settings: Settings) -> Agreement:
    """Compare two JSON answers leaf by leaf: labels must be equal, numbers within a threshold."""
    if isinstance(reference, dict) and isinstance(candidate, dict) and reference.keys() == candidate.keys():
        return sum((agreement(reference[k], candidate[k], settings) for k in reference), Agreement())
    if isinstance(reference, list) and isinstance(candidate, list) and len(reference) == len(candidate):
        return sum(
            (agreement(a, b, settings) for a, b in zip(reference, candidate, strict=True)), Agreement()
        )
    if is_measure(reference) and compare.is_number(candidate):
        error = abs(float(candidate) - reference)
        relative = error / abs(reference) if reference else (0.0 if error == 0 else math.inf)
        within = error <= settings.max_abs_error or relative <= settings.max_rel_error
        return Agreement(
            numbers=1, numbers_within=int(within), worst_abs_error=error, worst_rel_error=relative
        )
    if isinstance(reference, dict | list) or isinstance(candidate, dict | list):
        return Agreement(mismatched_shapes=1)
    return Agreement(
        labels=1, labels_agreeing=int(reference == candidate and type(reference) is type(candidate))
    )


# ---- models --------------------------------------------------------------------------------------


def variant_dir(model_dir: Path, variant: str) -> Path:
    """Where the variant's model folder goes: beside the fetched one (`model` -> `model-int8`)."""
    return model_dir.with_name(model_dir.name + TAG_SUFFIX[variant])


def write_variant(
    model_dir: Path, record: provenance.Provenance, variant: str
) -> tuple[Path, provenance.Provenance]:
    """Quantize the model into a sibling folder with the same other files and a record of both models."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dest = variant_dir(model_dir, variant)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(model_dir, dest, ignore=shutil.ignore_patterns(MODEL_FILE, PROVENANCE_FILE))
    # onnxruntime logs a hint about shape-inference pre-processing through the root logger; it is
    # advice for static quantization and not this pipeline's to act on.
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        quantize_dynamic(model_dir / MODEL_FILE, dest / MODEL_FILE, weight_type=QuantType.QInt8)
    except Exception as error:  # onnxruntime.quantization raises plain and onnx errors alike
        raise gha.StepError(
            f"onnxruntime could not quantize {model_dir / MODEL_FILE} to {variant}: {gha.first_line(error)}; "
            "ship the model without 'quantize'"
        ) from None
    finally:
        logging.getLogger().setLevel(quiet)
    # The variant's own files (the fetched names, in its folder) and its folder digest, as fetch records them.
    files = (
        None if record.files is None else {name: file_sha256(dest / name) for name in sorted(record.files)}
    )
    quantized = dataclasses.replace(
        record,
        sha256=file_sha256(dest / MODEL_FILE),
        quantized=variant,
        fp32_sha256=record.sha256,
        files=files,
        folder_sha256=None if files is None else provenance.folder_digest(files),
    )
    provenance.write(dest, quantized)
    return dest, quantized


def load(model_dir: Path) -> Any:
    """A model run in-process by the serving code, with one thread as in the image's default."""
    from serving.model import ModelError, load_model

    try:
        return load_model(model_dir)
    except ModelError as error:
        raise gha.StepError(f"cannot load the model in {model_dir} in-process: {error}") from None


def gate_bodies(model: Any, samples: Iterable[Any]) -> list[Any]:
    """The samples' requests, then requests generated from the model's signature, and a larger batch."""
    sig = signature(model.metadata())
    generated = [payload.body for payload in predict_payloads(sig)]
    if sig.batch_sizes != (1, 3):  # a fixed batch dimension takes no larger batch
        return [*samples, *generated]
    larger = (
        matrix_rows(sig, GENERATED_ROWS) if sig.matrix and not sig.columns else records(sig, GENERATED_ROWS)
    )
    return [*samples, *generated, larger]


def answer(model: Any, body: Any) -> Any:
    """The /predict answer as JSON values, or the refusal's text (a refusal must agree too)."""
    from serving.errors import ClientError

    try:
        return model.predict(body)
    except ClientError as error:
        return f"refused: {error}"


def round_ms(model: Any, bodies: list[Any]) -> float:
    """Milliseconds to answer every body once."""
    began = time.perf_counter()
    for body in bodies:
        answer(model, body)
    return (time.perf_counter() - began) * 1000


def run_gate(
    fp32_dir: Path, variant_dir_: Path, record: provenance.Provenance, settings: Settings, samples: list[Any]
) -> GateReport:
    """Answer every body with both models, compare, and time alternating rounds (median of each)."""
    fp32, variant = load(fp32_dir), load(variant_dir_)
    bodies = gate_bodies(fp32, samples)
    found = sum(
        (agreement(answer(fp32, body), answer(variant, body), settings) for body in bodies), Agreement()
    )
    fp32_rounds, variant_rounds = [], []
    for _ in range(TIMED_ROUNDS):  # alternating, so a busy machine slows both alike
        fp32_rounds.append(round_ms(fp32, bodies))
        variant_rounds.append(round_ms(variant, bodies))
    return GateReport(
        settings=settings,
        fp32_sha256=record.fp32_sha256 or "",
        variant_sha256=record.sha256,
        fp32_bytes=(fp32_dir / MODEL_FILE).stat().st_size,
        variant_bytes=(variant_dir_ / MODEL_FILE).stat().st_size,
        fp32_ms=statistics.median(fp32_rounds),
        variant_ms=statistics.median(variant_rounds),
        bodies=len(bodies),
        agreement=found,
    )


def make_variant(
    model_dir: Path, record: provenance.Provenance, settings: Settings, samples: list[Any]
) -> tuple[Path, provenance.Provenance, GateReport]:
    """Quantize, then gate: the variant's folder, its record, and the gate's report."""
    print(
        f"quantizing {model_dir / MODEL_FILE} to {settings.variant} (onnxruntime dynamic quantization)",
        flush=True,
    )
    dest, quantized = write_variant(model_dir, record, settings.variant)
    report = run_gate(model_dir, dest, quantized, settings, samples)
    print(report.verdict(), flush=True)
    return dest, quantized, report
