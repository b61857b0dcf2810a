"""Download just the files of a registered model that the serving image needs, smallest first.

An MLflow folder's `MLmodel` is read first, so that a non-ONNX flavor is refused before any weights
are downloaded; then the ONNX file, then the external-data files its tensors name, then the
sidecars beside it (`serving.model_folder.SIDECARS`). Other files of the asset (conda.yaml, code) stay
in the datastore.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from scripts import azure_blob, gha, mlflow_model, onnx_files
from scripts.azure_blob import StoredFile
from scripts.download_limits import Transfer
from serving.model_folder import SIDECARS

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient


@dataclass(frozen=True)
class ModelFiles:
    """What arrived: the ONNX file, its external data (relative to it), and the transfer's totals."""

    onnx_path: Path
    external: tuple[str, ...]
    downloaded_bytes: int
    seconds: float


def pick_model_file(
    container: ContainerClient, files: list[StoredFile], onnx_file: str | None, dest: Path, transfer: Transfer
) -> str:
    """The model's ONNX file: the one `onnx-file` names, the MLflow flavor's, or the only one."""
    names = [stored.relative for stored in files]
    if onnx_file or mlflow_model.MLMODEL not in names:
        return onnx_files.choose_onnx(names, onnx_file)
    mlmodel = next(stored for stored in files if stored.relative == mlflow_model.MLMODEL)
    azure_blob.download_file(container, mlmodel, dest / mlflow_model.MLMODEL, transfer)
    text = (dest / mlflow_model.MLMODEL).read_text(encoding="utf-8", errors="replace")
    chosen = mlflow_model.onnx_file_of(text, "the MLflow model")
    if chosen not in names:
        raise gha.StepError(
            f"the MLflow model's {mlflow_model.MLMODEL} names {chosen!r}, which is not among its files "
            f"({', '.join(sorted(names))})"
        )
    return chosen


def download_model_files(
    container: ContainerClient, prefix: str, dest: Path, onnx_file: str | None, transfer: Transfer
) -> ModelFiles:
    """Download the ONNX file of the asset at `prefix`, its external data and its sidecars under `dest`."""
    files = azure_blob.list_files(container, prefix, transfer)
    if not files:
        raise gha.StepError(
            f"the model's datastore path {prefix} holds no files: it is empty or was deleted; re-register "
            "the model from its files"
        )
    by_name = {stored.relative: stored for stored in files}
    chosen = pick_model_file(container, files, onnx_file, dest, transfer)
    folder = PurePosixPath(chosen).parent
    azure_blob.download_file(container, by_name[chosen], dest / chosen, transfer)
    external = onnx_files.external_locations(dest / chosen, f"the model's {chosen}")
    wanted = [(folder / location).as_posix() for location in external]
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise gha.StepError(
            f"the model's {chosen} keeps weights in {', '.join(missing)}, which the registered asset lacks; "
            "register the whole folder (the .onnx file and its data files)"
        )
    transfer.expect(sum(by_name[name].size for name in wanted), f"the weights of {chosen}")
    for name in wanted:
        azure_blob.download_file(container, by_name[name], dest / name, transfer)
    for sidecar in SIDECARS:
        name = (folder / sidecar).as_posix()
        if name in by_name:
            azure_blob.download_file(container, by_name[name], dest / name, transfer)
    return ModelFiles(
        onnx_path=dest / chosen,
        external=tuple(external),
        downloaded_bytes=transfer.total,
        seconds=transfer.seconds(),
    )
