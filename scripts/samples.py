"""The samples file of a model folder (contract A's samples.json): requests and the answers expected."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.gha import StepError, input_name
from serving.model_folder import SAMPLES_FILE


@dataclass(frozen=True)
class Sample:
    """A request and the answer the user expects (contract A's samples.json entry)."""

    name: str
    request: Any
    response: Any


def read_samples(text: str, source: str) -> list[Sample]:
    """Parse a samples file: a list of {"request": ..., "response": ...}."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StepError(
            f"{source} is not valid JSON ({error}); fix the file or leave {input_name('samples')} empty"
        ) from None
    if not isinstance(data, list) or not data:
        raise StepError(f'{source} must be a non-empty list of {{"request": ..., "response": ...}}')
    samples = []
    for i, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or not {"request", "response"} <= entry.keys():
            raise StepError(f'{source}: entry {i} must be an object with "request" and "response"')
        samples.append(Sample(f"sample {i}", entry["request"], entry["response"]))
    return samples


def locate(model_dir: Path, given: str) -> Path | None:
    """The samples file to use: `given`, else the model folder's samples.json when there is one."""
    samples = Path(given) if given else None
    if samples is None and (model_dir / SAMPLES_FILE).is_file():
        samples = model_dir / SAMPLES_FILE
    if samples is not None and not samples.is_file():
        raise StepError(
            f"{input_name('samples')} ({samples}) does not exist; "
            f"give a {SAMPLES_FILE} path or leave it empty"
        )
    return samples


def load(path: Path | None) -> list[Sample]:
    """The samples in `path` (none for no path)."""
    return read_samples(path.read_text(encoding="utf-8"), str(path)) if path else []
