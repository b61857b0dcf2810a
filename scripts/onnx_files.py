"""The files an ONNX model is made of: the graph, and the external-data files its tensors point at.

Models over protobuf's 2 GB limit, and MLflow's `mlflow.onnx.save_model` (which saves with
`save_as_external_data=True` by default), keep their weights in files beside the `.onnx` file; each
tensor names its file in `external_data` as a `location` relative to the model's folder
(https://onnx.ai/onnx/repo-docs/ExternalData.html). This module reads those locations with `onnx`
without loading the weights, and refuses any that would leave the model's folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from scripts import gha

if TYPE_CHECKING:
    from onnx import AttributeProto, GraphProto, TensorProto


def _graph_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    """Every tensor of a graph: initializers, sparse initializers, and node attributes, subgraphs too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            yield from _attribute_tensors(attribute)


def _attribute_tensors(attribute: AttributeProto) -> Iterator[TensorProto]:
    if attribute.HasField("t"):
        yield attribute.t
    yield from attribute.tensors
    if attribute.HasField("g"):
        yield from _graph_tensors(attribute.g)
    for graph in attribute.graphs:
        yield from _graph_tensors(graph)


def external_locations(model_path: Path, label: str) -> list[str]:
    """The distinct external-data locations of a model, checked to stay inside its folder ([] when
    `onnx` cannot parse it)."""
    import onnx  # slow to import, only needed here
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError):
        return []  # not a model at all: the onnxruntime check refuses it with the reason

    tensors = list(_graph_tensors(model.graph))
    for function in model.functions:
        for node in function.node:
            for attribute in node.attribute:
                tensors.extend(_attribute_tensors(attribute))
    locations: list[str] = []
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
        checked = check_location(location, tensor.name, label)
        if checked not in locations:
            locations.append(checked)
    return locations


def check_location(location: str, tensor: str, label: str) -> str:
    """A location as a clean relative POSIX path, or a refusal when it would leave the model folder."""
    path = PurePosixPath(location.replace("\\", "/"))
    if not location or path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise gha.StepError(
            f"{label}: tensor {tensor!r} keeps its data at {location!r}, which is not a path inside the "
            "model's folder; refusing it (an external-data location must be relative, without '..'). "
            "Re-export the model with its data files beside it"
        )
    return path.as_posix()


def copy_external_data(source_dir: Path, locations: list[str], dest_dir: Path, label: str) -> None:
    """Copy each external-data file from beside the source model to beside the fetched one."""
    for location in locations:
        source = source_dir / location
        if not source.is_file():
            raise gha.StepError(
                f"{label} keeps weights in {location!r}, which is missing beside it; fetch the whole "
                "model folder (the .onnx file and its data files)"
            )
        target = dest_dir / location
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def remove_fetched(dest_dir: Path, model_file: Path) -> None:
    """Delete the external-data files of the model a previous fetch left in `dest_dir`."""
    if not model_file.is_file():
        return
    try:
        locations = external_locations(model_file, str(model_file))
    except gha.StepError:
        return  # a location outside the folder was never ours to write, nor to delete
    for location in locations:
        (dest_dir / location).unlink(missing_ok=True)


def choose_onnx(files: Sequence[str], onnx_file: str | None) -> str:
    """Pick the ONNX file among the downloaded files (paths relative to the download root)."""
    if not files:
        raise gha.StepError("the model's download was empty")
    onnx = sorted(name for name in files if name.lower().endswith(".onnx"))
    if onnx_file:
        wanted = onnx_file.strip("/")
        matches = [name for name in files if name == wanted or name.endswith("/" + wanted)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise gha.StepError(
                f"the model has no file '{onnx_file}'; its files are: {', '.join(sorted(files))}"
            )
        raise gha.StepError(
            f"'{onnx_file}' matches several files ({', '.join(sorted(matches))}); give a longer path"
        )
    if len(onnx) == 1:
        return onnx[0]
    if not onnx:
        raise gha.StepError(
            "the model has no .onnx file; its files are: "
            f"{', '.join(sorted(files))}; register the ONNX export of the model"
        )
    raise gha.StepError(
        f"the model has several ONNX files ({', '.join(onnx)}); choose one with {gha.input_name('onnx-file')}"
    )
