"""The int8 variant: the gate's comparison (pure), real quantization of small MatMul models, and the
int8 image built and smoke-tested on the Docker engine (marked `docker`)."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from pathlib import Path

import docker
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from scripts import build, fetch, provenance, quantize, smoke_test
from scripts.gha import StepError
from serving.model_folder import CONFIG_FILE, file_sha256
from tests.steps import run_step
from tests.test_build import BASE_IMAGE, PROJECT, remove_images

SETTINGS = quantize.Settings("int8", max_abs_error=0.01, max_rel_error=0.01)


@pytest.mark.parametrize(
    ("reference", "candidate", "expected"),
    [
        pytest.param(
            {"positive": [True, False]}, {"positive": [True, False]}, (2, 2, 0, 0), id="labels-agree"
        ),
        pytest.param(
            {"positive": [True, False]}, {"positive": [True, True]}, (2, 1, 0, 0), id="a-label-differs"
        ),
        pytest.param({"label": 1}, {"label": True}, (1, 0, 0, 0), id="int-label-is-not-a-bool"),
        pytest.param({"prediction": [20.0]}, {"prediction": [20.009]}, (0, 0, 1, 1), id="within-abs"),
        pytest.param({"prediction": [200.0]}, {"prediction": [201.0]}, (0, 0, 1, 1), id="within-rel"),
        pytest.param({"prediction": [20.0]}, {"prediction": [21.0]}, (0, 0, 1, 0), id="beyond-both"),
        pytest.param({"prediction": [0.0]}, {"prediction": [0.5]}, (0, 0, 1, 0), id="zero-reference"),
    ],
)
def test_agreement_counts_labels_and_numbers(
    reference: object, candidate: object, expected: tuple[int, int, int, int]
) -> None:
    found = quantize.agreement(reference, candidate, SETTINGS)
    assert (found.labels, found.labels_agreeing, found.numbers, found.numbers_within) == expected


def test_agreement_counts_a_different_shape_as_a_disagreement() -> None:
    found = quantize.agreement({"prediction": [1.0, 2.0]}, {"prediction": [1.0]}, SETTINGS)
    assert (found.mismatched_shapes, found.fraction) == (1, 0.0)


def test_agreement_keeps_the_worst_error() -> None:
    found = quantize.agreement([1.0, 10.0, 100.0], [1.5, 10.0, 99.0], SETTINGS)
    assert found.worst_abs_error == pytest.approx(1.0)
    assert found.worst_rel_error == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("variant", "max_abs", "max_rel", "complaint"),
    [
        pytest.param("int4", "0.01", "0.01", "--quantize is 'int4'", id="unknown-variant"),
        pytest.param("int8", "lots", "0.01", "--max-abs-error must be a number", id="not-a-number"),
        pytest.param("int8", "0.01", "-1", "--max-rel-error must be zero or more", id="negative"),
        pytest.param("int8", "nan", "0.01", "--max-abs-error must be zero or more", id="nan"),
    ],
)
def test_parse_settings_refuses(variant: str, max_abs: str, max_rel: str, complaint: str) -> None:
    with pytest.raises(StepError, match=complaint):
        quantize.parse_settings(variant, max_abs, max_rel)


def test_parse_settings_names_the_action_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_MAX_ABS_ERROR", "lots")  # how actions/build passes its inputs
    with pytest.raises(StepError, match=r"^input 'max-abs-error' must be a number, not 'lots'$"):
        quantize.parse_settings("int8", "lots", "0.01")


def test_no_variant_asked_for_is_none() -> None:
    assert quantize.parse_settings("", "x", "y") is None


# --- real quantization ---------------------------------------------------------------------------


def matmul_model(folder: Path, weights: np.ndarray) -> Path:
    """A one-MatMul regressor (X[N, 4] @ W[4, 3]) that dynamic quantization turns into int8 kernels."""
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 3])
    weight = numpy_helper.from_array(weights.astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "matmul", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    folder.mkdir(parents=True)
    onnx.save(model, folder / "model.onnx")
    return folder


def fetched(source: Path, dest: Path) -> Path:
    """The model fetched by the real fetch step, with its provenance record."""
    assert fetch.main(["--source", "local", "--model", str(source), "--dest", str(dest)]) == 0
    return dest


@pytest.fixture
def smooth_model(tmp_path: Path) -> Path:
    """Weights of one scale: int8 keeps them within about 1%."""
    return fetched(matmul_model(tmp_path / "smooth", np.linspace(0.5, 2.0, 12).reshape(4, 3)), tmp_path / "m")


@pytest.fixture
def lopsided_model(tmp_path: Path) -> Path:
    """One weight a million times the others: int8's one scale per tensor rounds the small ones to 0."""
    weights = np.full((4, 3), 0.001)
    weights[0, 0] = 1000.0
    return fetched(matmul_model(tmp_path / "lopsided", weights), tmp_path / "m")


def test_the_variant_folder_records_both_models(smooth_model: Path) -> None:
    record = provenance.read(smooth_model)
    settings = quantize.Settings("int8", 0.05, 0.05)
    folder, variant, report = quantize.make_variant(smooth_model, record, settings, [])
    assert folder == smooth_model.with_name("m-int8")
    assert provenance.read(folder) == variant
    assert (variant.quantized, variant.fp32_sha256) == ("int8", record.sha256)
    assert variant.sha256 == file_sha256(folder / "model.onnx") != record.sha256
    ops = {node.op_type for node in onnx.load(folder / "model.onnx").graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, ops
    assert report.passed, report.verdict()
    assert report.bodies == 3  # the generated 1- and 3-row requests and the larger batch
    assert report.agreement.numbers == 3 * (1 + 3 + quantize.GENERATED_ROWS)
    assert 0 < report.agreement.worst_rel_error < 0.05
    assert math.isfinite(report.latency_ratio)


def test_build_stops_at_a_failing_gate_before_docker(
    lopsided_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves Docker is never reached
    argv = ["--model-dir", str(lopsided_model), "--image-name", "lopsided", "--quantize", "int8"]
    result = run_step(build.main, argv, tmp_path, monkeypatch)
    assert result.code == 1
    printed = result.out + result.err
    assert "error: the int8 accuracy gate failed" in printed
    assert "numbers are beyond max-abs-error 0.01 and max-rel-error 0.01" in printed
    assert "Docker engine" not in result.out + result.err
    assert result.outputs["quantize-verdict"] == "fail"
    assert result.summary.startswith("### ❌ int8 agrees with fp32 on")


def test_build_refuses_bad_thresholds_before_quantizing(
    smooth_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [
        "--model-dir",
        str(smooth_model),
        "--image-name",
        "m",
        "--quantize",
        "int8",
        "--max-rel-error",
        "5%",
    ]
    result = run_step(build.main, argv, tmp_path, monkeypatch)
    assert result.code == 1
    assert "--max-rel-error must be a number, not '5%'" in result.out + result.err
    assert not smooth_model.with_name("m-int8").exists()


# --- the int8 image --------------------------------------------------------------------------------


@pytest.mark.docker
def test_int8_image_is_labelled_tagged_and_answers_as_the_variant(
    smooth_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp32_sha = provenance.read(smooth_model).sha256
    image_name = f"127.0.0.1:5000/modelship-test/int8-{uuid.uuid4().hex[:8]}"
    argv = [
        "--model-dir", str(smooth_model), "--image-name", image_name, "--base-image", BASE_IMAGE,
        "--git-ref", "refs/heads/main", "--git-sha", "0" * 40, "--wheelhouse", str(PROJECT / ".wheelhouse"),
        "--quantize", "int8", "--max-abs-error", "0.05", "--max-rel-error", "0.05",
    ]  # fmt: skip
    built = run_step(build.main, argv, tmp_path, monkeypatch)
    assert built.code == 0, built.out + built.err
    try:
        refs = built.outputs["tags"].splitlines()
        assert refs
        assert all(ref.endswith("-int8") for ref in refs), refs
        assert f"{image_name}:latest-int8" in refs
        client = docker.from_env()
        try:
            labels = client.images.get(built.outputs["image-id"]).labels
        finally:
            client.close()
        assert labels["ai.modelship.model.quantized"] == "int8"
        assert labels["ai.modelship.model.fp32-sha256"] == fp32_sha
        variant_dir = Path(built.outputs["model-dir"])
        assert labels["ai.modelship.model.sha256"] == file_sha256(variant_dir / "model.onnx")
        variant_digest = provenance.read(variant_dir).folder_sha256
        assert (
            labels["ai.modelship.model.folder-sha256"]
            == variant_digest
            != provenance.read(smooth_model).folder_sha256
        )
        assert json.loads(built.outputs["labels"])["ai.modelship.model.quantized"] == "int8"
        smoke = run_step(
            smoke_test.main,
            ["--image", built.outputs["image"], "--model-dir", str(variant_dir)],
            tmp_path,
            monkeypatch,
        )
        assert smoke.code == 0, smoke.out
    finally:
        remove_images(built.outputs["image-id"], *built.outputs["tags"].splitlines())


def test_the_variant_s_provenance_lists_its_own_files_and_folder_digest(tmp_path: Path) -> None:
    source = matmul_model(tmp_path / "smooth", np.linspace(0.5, 2.0, 12).reshape(4, 3))
    (source / CONFIG_FILE).write_text(json.dumps({"name": "smooth", "version": "2"}), encoding="utf-8")
    model = fetched(source, tmp_path / "m")
    record = provenance.read(model)
    folder, variant = quantize.write_variant(model, record, "int8")
    on_disk = {path.name: file_sha256(path) for path in folder.iterdir() if path.name != "provenance.json"}
    assert variant.files == on_disk
    assert set(on_disk) == {"model.onnx", CONFIG_FILE}
    lines = "".join(f"{on_disk[name]}  {name}\n" for name in sorted(on_disk))
    assert variant.folder_sha256 == hashlib.sha256(lines.encode()).hexdigest() != record.folder_sha256
    assert variant.files[CONFIG_FILE] == (record.files or {})[CONFIG_FILE]
    assert (variant.sha256, variant.fp32_sha256) == (on_disk["model.onnx"], record.sha256)
    assert provenance.read(folder) == variant
