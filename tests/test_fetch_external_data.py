"""The fetch step with models whose weights live beside them: MLflow folders, external data, its refusals."""

from __future__ import annotations

import hashlib
import json
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from scripts import fetch, mlflow_model, onnx_files
from serving.model import load_model
from tests import steps
from tests.mlflow_models import (
    WEIGHTS_FILE,
    mlflow_onnx_files,
    mlflow_sklearn_files,
    onnx_with_external_data,
    write_folder,
)
from tests.steps import StepRun
from tests.test_fetch import sha256sum_of_sha256sum


@pytest.fixture
def run_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Run `fetch.main` in-process: `ok` expects exit 0, `fails` exit 1 and returns the error."""
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step_summary"))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)

    def ok(*argv: str) -> StepRun:
        run = steps.run_step(fetch.main, list(argv), tmp_path, monkeypatch)
        assert run.code == 0, run.out + run.err
        return run

    def fails(*argv: str) -> str:
        run = steps.run_step(fetch.main, list(argv), tmp_path, monkeypatch)
        assert run.code == 1, run.out + run.err
        assert "Traceback" not in run.err
        return run.err

    return types.SimpleNamespace(ok=ok, fails=fails)


def test_mlflow_folder_with_external_data_is_fetched_and_served(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files(scale=1.0))
    (source / WEIGHTS_FILE).chmod(0o600)  # as onnx writes it; the image's non-root user must read the copy
    dest = tmp_path / "fetched"

    run = run_step.ok("--source", "local", "--model", str(source), "--dest", str(dest))

    assert sorted(path.name for path in dest.iterdir()) == sorted(
        ["model.onnx", WEIGHTS_FILE, "modelship.json", "samples.json", "provenance.json"]
    )
    assert (dest / WEIGHTS_FILE).read_bytes() == (source / WEIGHTS_FILE).read_bytes()
    assert (dest / WEIGHTS_FILE).stat().st_mode & 0o044 == 0o044
    assert run.outputs["model-name"] == "linear"
    # The weights really are the ones beside the model: x @ W, with W from the data file.
    assert load_model(dest).predict([[1.0, 2.0, 3.0, 4.0]]) == {"prediction": [[5.0, 15.0, 25.0, 35.0]]}
    assert f"`{WEIGHTS_FILE}`" in (tmp_path / "step_summary").read_text()


def model_with_weights_at(folder: Path, location: str) -> Path:
    """A folder with model.onnx keeping its weights at `location` (any relative path, as ONNX allows),
    and the MLflow example's modelship.json and samples.json."""
    files = onnx_with_external_data(1.0, location="weights.bin")
    model = onnx.ModelProto.FromString(files["model.onnx"])  # parsed only: the weights stay external
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    sidecars = {name: data for name, data in mlflow_onnx_files().items() if name.endswith(".json")}
    return write_folder(
        folder, {"model.onnx": model.SerializeToString(), location: files["weights.bin"], **sidecars}
    )


@pytest.mark.parametrize("location", [".weights.bin", "data/.weights.bin"])
def test_weights_in_a_dotted_file_are_fetched_and_listed(
    run_step: types.SimpleNamespace, tmp_path: Path, location: str
) -> None:
    source = model_with_weights_at(tmp_path / "model", location)
    dest = tmp_path / "fetched"

    run_step.ok("--source", "local", "--model", str(source), "--dest", str(dest))

    record = json.loads((dest / "provenance.json").read_text())
    assert record["files"][location] == hashlib.sha256((source / location).read_bytes()).hexdigest()
    assert (dest / location).read_bytes() == (source / location).read_bytes()
    assert load_model(dest).predict([[1.0, 2.0, 3.0, 4.0]]) == {"prediction": [[5.0, 15.0, 25.0, 35.0]]}


def fetch_folder_argv(source: Path, dest: Path, expected_sha256: str) -> list[str]:
    """The fetch step's arguments for a local folder and an expected digest."""
    return [
        "--source",
        "local",
        "--model",
        str(source),
        "--dest",
        str(dest),
        "--expected-sha256",
        expected_sha256,
    ]


FETCHED = ["model.onnx", WEIGHTS_FILE, "modelship.json", "samples.json"]  # of mlflow_onnx_files' files


def test_expected_sha256_is_the_folder_digest_for_a_model_with_external_data(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files())
    digest = sha256sum_of_sha256sum(source, FETCHED)  # computed on the published folder, as a user would

    run = run_step.ok(*fetch_folder_argv(source, tmp_path / "out", digest))

    assert run.outputs["folder-sha256"] == digest
    record = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert record["folder_sha256"] == digest
    assert record["files"] == {
        name: hashlib.sha256((source / name).read_bytes()).hexdigest() for name in FETCHED
    }


def test_a_tampered_weights_file_fails_the_folder_digest(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files())
    digest = sha256sum_of_sha256sum(source, FETCHED)
    weights = bytearray((source / WEIGHTS_FILE).read_bytes())
    weights[0] ^= 0x01  # one bit of one weight: still a loadable model, a different one
    (source / WEIGHTS_FILE).write_bytes(bytes(weights))
    dest = tmp_path / "out"

    error = run_step.fails(
        "--source", "local", "--model", str(source), "--dest", str(dest), "--expected-sha256", digest
    )

    assert (
        f"folder digest is {sha256sum_of_sha256sum(source, FETCHED)}, but --expected-sha256 is {digest}"
        in error
    )
    assert "the model changed or the wrong file was given" in error
    assert not (dest / "model.onnx").exists()
    assert not (dest / WEIGHTS_FILE).exists()


def test_the_graph_alone_is_not_accepted_as_the_digest_of_a_model_with_weights(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files())
    graph_only = hashlib.sha256((source / "model.onnx").read_bytes()).hexdigest()

    error = run_step.fails(*fetch_folder_argv(source, tmp_path / "out", graph_only))

    assert (
        f"{source / 'model.onnx'}'s graph alone, but the model keeps its weights in {WEIGHTS_FILE}" in error
    )
    assert f"which is {sha256sum_of_sha256sum(source, FETCHED)} for these files" in error


def test_the_size_cap_counts_a_local_model_and_its_weights(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files())
    (source / WEIGHTS_FILE).write_bytes((source / WEIGHTS_FILE).read_bytes() + bytes(2 * 1024 * 1024))
    dest = tmp_path / "out"

    error = run_step.fails(
        "--source", "local", "--model", str(source), "--dest", str(dest), "--max-size-mb", "1"
    )

    assert "the model's files are larger than the limit of 1 MB (at least " in error
    assert "raise --max-size-mb if this model really is that big" in error
    assert not dest.exists()


def test_a_local_copy_past_the_timeout_is_refused(run_step: types.SimpleNamespace, tmp_path: Path) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files())
    dest = tmp_path / "out"

    error = run_step.fails(
        "--source", "local", "--model", str(source), "--dest", str(dest), "--timeout", "1e-9"
    )

    assert f"fetching the model from {source} did not finish within 1e-09 s" in error
    assert sorted(path.name for path in dest.iterdir()) == []


def test_refetching_a_model_without_external_data_removes_the_old_weights(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = write_folder(tmp_path / "mlflow-model", mlflow_onnx_files())
    dest = tmp_path / "fetched"
    run_step.ok("--source", "local", "--model", str(source), "--dest", str(dest))
    inline = tmp_path / "inline" / "model.onnx"
    inline.parent.mkdir()
    model = onnx.load(str(source / "model.onnx"))  # loads the weights into the graph
    onnx.save_model(model, str(inline))

    run_step.ok("--source", "local", "--model", str(inline), "--dest", str(dest))

    assert not (dest / WEIGHTS_FILE).exists()
    assert load_model(dest).predict([[1.0, 2.0, 3.0, 4.0]]) == {"prediction": [[5.0, 15.0, 25.0, 35.0]]}


def test_missing_weights_file_is_named(run_step: types.SimpleNamespace, tmp_path: Path) -> None:
    files = mlflow_onnx_files()
    del files[WEIGHTS_FILE]
    source = write_folder(tmp_path / "mlflow-model", files)

    error = run_step.fails("--source", "local", "--model", str(source), "--dest", str(tmp_path / "out"))

    assert f"keeps weights in '{WEIGHTS_FILE}', which is missing beside it" in error


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("../outside.bin", id="parent"),
        pytest.param("weights/../../outside.bin", id="nested-parent"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("C:/weights.bin", id="windows-drive"),
    ],
)
def test_locations_escaping_the_folder_are_refused(
    run_step: types.SimpleNamespace, tmp_path: Path, location: str
) -> None:
    files = onnx_with_external_data(1.0, location="weights.bin")
    source = write_folder(tmp_path / "model", {"model.onnx": files["model.onnx"]})
    model = onnx.load(str(source / "model.onnx"), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save_model(model, str(source / "model.onnx"))
    (tmp_path / "outside.bin").write_bytes(files["weights.bin"])
    dest = tmp_path / "out"

    error = run_step.fails("--source", "local", "--model", str(source), "--dest", str(dest))

    assert f"keeps its data at '{location}', which is not a path inside the model's folder" in error
    assert not (dest / "model.onnx").exists()


def test_non_onnx_mlflow_flavor_is_refused_naming_it(run_step: types.SimpleNamespace, tmp_path: Path) -> None:
    source = write_folder(tmp_path / "sklearn-model", mlflow_sklearn_files())

    error = run_step.fails("--source", "local", "--model", str(source), "--dest", str(tmp_path / "out"))

    assert "is an MLflow model of flavor sklearn, not ONNX" in error
    assert "export it to ONNX" in error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("flavors: {onnx: {data: nested/m.onnx}}", "nested/m.onnx", id="nested"),
        pytest.param("flavors: {onnx: {data: m.onnx}, python_function: {}}", "m.onnx", id="with-pyfunc"),
    ],
)
def test_onnx_file_of(text: str, expected: str) -> None:
    assert mlflow_model.onnx_file_of(text, "model") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("flavors: {pytorch: {}, python_function: {}}", "flavor pytorch, not ONNX", id="pytorch"),
        pytest.param("flavors: {python_function: {}}", "flavor python_function, not ONNX", id="pyfunc"),
        pytest.param("artifact_path: model", "lists no flavors", id="no-flavors"),
        pytest.param("flavors: {onnx: {}}", "without its 'data' file name", id="no-data"),
        pytest.param("flavors: {onnx: {data: ../m.onnx}}", "outside the MLflow folder", id="escape"),
        pytest.param("flavors: [unclosed", "is not valid YAML", id="bad-yaml"),
    ],
)
def test_onnx_file_of_refuses(text: str, expected: str) -> None:
    with pytest.raises(Exception, match=expected):
        mlflow_model.onnx_file_of(text, "model")


def test_locations_of_subgraph_tensors_are_found(tmp_path: Path) -> None:
    constant = numpy_helper.from_array(np.ones(1, dtype=np.float32), "c")  # raw_data: can go external
    inner = helper.make_graph(
        [helper.make_node("Constant", [], ["y"], value=constant)],
        "branch",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    node = helper.make_node("If", ["cond"], ["y"], then_branch=inner, else_branch=inner)
    graph = helper.make_graph(
        [node],
        "outer",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(
        model,
        str(tmp_path / "m.onnx"),
        save_as_external_data=True,
        location="d.bin",
        size_threshold=0,
        convert_attribute=True,
    )

    assert onnx_files.external_locations(tmp_path / "m.onnx", "m.onnx") == ["d.bin"]
