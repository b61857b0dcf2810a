"""The model folder the fetch step writes (contract A, `serving.model_folder`): clearing it, checking
what a source brought (an ONNX model onnxruntime loads, its expected digest), and recording it.

Every source lands its model as PARTIAL inside the folder, beside its external data, and calls
`finish`, which checks it and only then moves it to `model.onnx` and writes `provenance.json`.
Fetching the same model again keeps the first `fetched_at`, so the folder (and the image built from
it) stays byte-identical and the build cache holds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import gha, mlflow_model, onnx_files, provenance
from scripts.provenance import Provenance
from serving.model_folder import CONFIG_FILE, MODEL_FILE, PROVENANCE_FILE, SIDECARS, file_sha256

DEFAULT_DEST = ".modelship/model"
PARTIAL = ".model.onnx.part"  # the model while it is fetched and checked
STAGING = ".azureml-download"  # where the Azure ML source downloads before moving files into place


@dataclass(frozen=True)
class Fetched:
    """What one source brought: the record, the sidecars, the external data, the download's totals."""

    record: Provenance
    sidecars: tuple[str, ...]
    external: tuple[str, ...] = ()
    downloaded_bytes: int = 0
    download_seconds: float | None = None


def sniff_not_onnx(head: bytes) -> str | None:
    """Why the first bytes of a file show it is not a model (None when they might be one)."""
    if head.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the model: run `git lfs pull` or fetch the file itself"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml")):
        return "it is an HTML/XML page, not a model: check the URL (a login or error page was downloaded)"
    if not head:
        return "the file is empty"
    return None


def check_onnx(path: Path, label: str) -> None:
    """Make sure onnxruntime can load the model, or explain why it cannot."""
    with path.open("rb") as handle:
        reason = sniff_not_onnx(handle.read(512))
    if reason:
        raise gha.StepError(f"{label} is not a valid ONNX model: {reason}")
    import onnxruntime  # slow to import, only needed here

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped pybind errors
        raise gha.StepError(
            f"{label} is not a valid ONNX model (onnxruntime {onnxruntime.__version__} cannot load it: "
            f"{gha.first_line(error)}); check that it is an exported .onnx file and that its opset is "
            "supported"
        ) from error


def pick_onnx(folder: Path, onnx_file: str | None, label: str) -> Path:
    """The one .onnx file of a folder, or the one named by `onnx_file`."""
    if onnx_file:
        chosen = folder / onnx_file
        if not chosen.is_file():
            raise gha.StepError(
                f"{gha.input_name('onnx-file')} names {onnx_file!r}, which is not a file in {label}"
            )
        return chosen
    if (folder / mlflow_model.MLMODEL).is_file():
        text = (folder / mlflow_model.MLMODEL).read_text(encoding="utf-8", errors="replace")
        chosen = folder / mlflow_model.onnx_file_of(text, label)
        if not chosen.is_file():
            raise gha.StepError(f"{label}'s {mlflow_model.MLMODEL} names {chosen.name!r}, which is missing")
        return chosen
    found = sorted(folder.glob("*.onnx"))
    if not found:
        raise gha.StepError(
            f"{label} holds no .onnx file; point {gha.input_name('model')} at the model file itself"
        )
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise gha.StepError(
            f"{label} holds several .onnx files ({names}); choose one with {gha.input_name('onnx-file')}"
        )
    return found[0]


def read_sidecar_config(folder: Path) -> dict[str, Any]:
    """The optional `modelship.json` beside a model (an empty dict when absent or not an object)."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise gha.StepError(f"{path} is not valid JSON ({error}); fix or remove it") from error
    return data if isinstance(data, dict) else {}


def prepare_dest(dest: Path, source_folder: Path | None) -> Provenance | None:
    """Create the destination, clear what a previous fetch left there, return its old record."""
    if source_folder is not None and dest.resolve() == source_folder.resolve():
        raise gha.StepError(
            f"{gha.input_name('dest')} ({dest}) is the folder the model comes from; choose another folder "
            "(default "
            f"{DEFAULT_DEST})"
        )
    if dest.exists() and not dest.is_dir():
        raise gha.StepError(f"{gha.input_name('dest')} ({dest}) exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        previous: Provenance | None = provenance.read(dest)
    except gha.StepError:
        previous = None
    onnx_files.remove_fetched(dest, dest / MODEL_FILE)
    for name in (MODEL_FILE, PROVENANCE_FILE, PARTIAL, *SIDECARS):
        (dest / name).unlink(missing_ok=True)
    shutil.rmtree(dest / STAGING, ignore_errors=True)
    return previous


def copy_sidecars(folder: Path, dest: Path) -> tuple[str, ...]:
    """Copy the optional sidecars (SIDECARS) found beside the model."""
    copied = []
    for name in SIDECARS:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, dest / name)
            copied.append(name)
    return tuple(copied)


def discard(dest: Path, names: Sequence[str]) -> None:
    """Delete what a failed fetch put in the folder: the partial model and the files beside it."""
    for name in (PARTIAL, *names):
        (dest / name).unlink(missing_ok=True)


def finish(
    dest: Path,
    partial: Path,
    expected_sha256: str | None,
    *,
    label: str,
    previous: Provenance | None,
    external: Sequence[str] = (),
    sidecars: Sequence[str] = (),
    **fields: Any,
) -> Provenance:
    """Check the fetched model (its digest, that onnxruntime loads it beside its external data), move it
    to `model.onnx`, write `provenance.json` with every file's sha256 and the folder digest."""
    try:
        digest = file_sha256(partial)
        files = {MODEL_FILE: digest} | {name: file_sha256(dest / name) for name in (*external, *sidecars)}
        check_digest(expected_sha256, files, label, external)
        check_onnx(partial, label)
    except gha.StepError:
        discard(dest, (*external, *sidecars))
        raise
    partial.replace(dest / MODEL_FILE)
    record = Provenance(
        sha256=digest,
        files=dict(sorted(files.items())),
        folder_sha256=provenance.folder_digest(files),
        fetched_at=provenance.utc_now(),
        **fields,
    )
    if previous is not None and previous.same_model(record):
        record = previous  # same model from the same place: keep the folder byte-identical
    provenance.write(dest, record)
    return record


def check_digest(expected: str | None, files: dict[str, str], label: str, external: Sequence[str]) -> None:
    """Refuse the model unless input 'expected-sha256' is its folder digest, or the sha256 of its one
    ONNX file when it has no external data (then the file is the whole model)."""
    if expected is None:
        return
    folder = provenance.folder_digest(files)
    if expected == folder:
        return
    if expected == files[MODEL_FILE]:
        if not external:
            return
        raise gha.StepError(
            f"{gha.input_name('expected-sha256')} is the sha256 of {label}'s graph alone, but the model "
            "keeps its "
            f"weights in {', '.join(external)}, which that digest does not cover; give the folder digest "
            f"(the sha256 of `sha256sum` lines for every file, see docs/usage.md), which is {folder} for "
            "these files"
        )
    raise gha.StepError(
        f"the sha256 of {label} is {files[MODEL_FILE]} and its folder digest is {folder}, but "
        f"{gha.input_name('expected-sha256')} is {expected}; the model changed or the wrong file was given"
        + (f" (files: {', '.join(sorted(files))})" if len(files) > 1 else "")
    )
