"""The provenance record (`provenance.json`) that fetch writes and build turns into image labels."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scripts import gha
from serving.model_folder import PROVENANCE_FILE

SOURCES = ("local", "https", "azureml")
_REQUIRED = ("source", "uri", "name", "version", "sha256", "fetched_at")


@dataclass(frozen=True)
class Provenance:
    """Where a model came from, what it is, and when it was fetched (contract A)."""

    source: str
    uri: str
    name: str
    version: str
    sha256: str
    fetched_at: str
    workspace: str | None = None
    resource_group: str | None = None
    subscription_id: str | None = None
    registry: str | None = None
    asset_id: str | None = None
    created: str | None = None
    tags: dict[str, str] | None = None
    # A variant made by scripts.quantize: its name ("int8"), and the sha256 of the model it was made from.
    quantized: str | None = None
    fp32_sha256: str | None = None
    # Every file fetched into the folder (model.onnx, external data, sidecars) and its sha256, and the
    # folder digest over them (folder_digest); absent in records written before they existed.
    files: dict[str, str] | None = None
    folder_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, without the Azure ML fields when they are absent."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}

    def same_model(self, other: Provenance) -> bool:
        """True when both records describe the same model from the same place (times aside)."""
        return dataclasses.replace(self, fetched_at="") == dataclasses.replace(other, fetched_at="")


def utc_now() -> str:
    """The current time as ISO-8601 UTC with a `Z`, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def folder_digest(files: Mapping[str, str]) -> str:
    """The sha256 of `sha256sum`'s lines for the files (`<sha256>  <name>`, sorted by name): what
    `LC_ALL=C sha256sum <files, sorted> | sha256sum` prints in the model folder."""
    lines = "".join(
        f"{digest}  {name}\n" for name, digest in sorted(files.items(), key=lambda item: item[0].encode())
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment (a SAS token must not reach logs or labels)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def from_dict(data: object, where: str) -> Provenance:
    """Check and convert a decoded `provenance.json`; `where` names the file in errors."""
    if not isinstance(data, dict):
        raise gha.StepError(f"{where} must hold a JSON object; run the fetch step again to rewrite it")
    missing = [key for key in _REQUIRED if not isinstance(data.get(key), str) or not data[key]]
    if missing:
        raise gha.StepError(f"{where} lacks {', '.join(missing)}; run the fetch step again to rewrite it")
    known = {field.name for field in dataclasses.fields(Provenance)}
    values = {key: value for key, value in data.items() if key in known}
    for mapping in ("tags", "files"):
        if values.get(mapping) is not None:
            values[mapping] = {str(key): str(value) for key, value in dict(values[mapping]).items()}
    for key in (
        "workspace",
        "resource_group",
        "subscription_id",
        "registry",
        "asset_id",
        "created",
        "quantized",
        "fp32_sha256",
        "folder_sha256",
    ):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return Provenance(**values)


def read(model_dir: Path) -> Provenance:
    """Load `<model_dir>/provenance.json`, with a clear error when it is missing or broken."""
    path = model_dir / PROVENANCE_FILE
    if not path.is_file():
        raise gha.StepError(
            f"{path} does not exist: the model folder was not made by the fetch step; "
            f"run `python -m scripts.fetch --source local --model <model> --dest {model_dir}` first"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise gha.StepError(f"{path} is not readable JSON ({error}); run the fetch step again") from error
    return from_dict(data, str(path))


def write(model_dir: Path, record: Provenance) -> Path:
    """Write `<model_dir>/provenance.json` and return its path."""
    path = model_dir / PROVENANCE_FILE
    path.write_text(json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
