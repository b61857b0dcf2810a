"""The local source of the fetch step: a .onnx file, or a folder holding one (an MLflow folder too),
copied with its external data and sidecars, within the same size cap and deadline as a download
(`max-size-mb`, `timeout`: a "local" path may be a network mount)."""

from __future__ import annotations

import shutil
from pathlib import Path

from scripts import fetched_folder, gha, onnx_files
from scripts.download_limits import Transfer
from scripts.fetch_request import FetchRequest
from scripts.fetched_folder import PARTIAL, Fetched
from scripts.model_inputs import DEFAULT_VERSION
from serving.model_folder import SIDECARS


def fetch(request: FetchRequest) -> Fetched:
    """Copy a local model (file or folder), its external data and its sidecars into the destination."""
    path = Path(request.model).expanduser()
    if not path.exists():
        raise gha.StepError(f"{gha.input_name('model')} ({request.model}) does not exist; check the path")
    if path.is_dir():
        model_file = fetched_folder.pick_onnx(path, request.onnx_file, f"folder {path}")
    else:
        if request.onnx_file:
            raise gha.StepError(
                f"{gha.input_name('onnx-file')} chooses a file inside a folder; {gha.input_name('model')} "
                "is already a file"
            )
        model_file = path
    folder = model_file.parent
    external = onnx_files.external_locations(model_file, str(model_file))
    present = [folder / name for name in (*external, *SIDECARS) if (folder / name).is_file()]
    size = sum(path.stat().st_size for path in (model_file, *present))
    transfer = Transfer(request.limits, where=str(folder))
    transfer.expect(size, str(model_file))  # refused before anything is copied
    previous = fetched_folder.prepare_dest(request.dest, folder)
    config = fetched_folder.read_sidecar_config(folder)
    shutil.copyfile(model_file, request.dest / PARTIAL)
    onnx_files.copy_external_data(folder, external, request.dest, str(model_file))
    sidecars = fetched_folder.copy_sidecars(folder, request.dest)
    try:
        transfer.add(size, str(model_file))  # a copy past the deadline is refused
    except gha.StepError:
        fetched_folder.discard(request.dest, (*external, *sidecars))
        raise
    stem = folder.name if model_file.stem == "model" else model_file.stem
    record = fetched_folder.finish(
        request.dest,
        request.dest / PARTIAL,
        request.expected_sha256,
        label=str(model_file),
        previous=previous,
        external=external,
        sidecars=sidecars,
        source="local",
        uri=str(model_file.resolve()),
        name=request.name or str(config.get("name") or stem),
        version=request.version or str(config.get("version") or DEFAULT_VERSION),
    )
    return Fetched(record, sidecars, tuple(external))
