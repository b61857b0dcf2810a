"""OCI image labels from the model's provenance and the build's git context (pure).

`created` must not be the wall-clock time: a label that changes on every run changes the image id,
and a rebuild with nothing changed has to give the same image. It is `SOURCE_DATE_EPOCH` when set
(the reproducible-builds convention), else the commit's time (stable across CI runners, which each
fetch anew), else the time the model was first fetched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from scripts import gha
from scripts.provenance import Provenance, redact_url

OCI = "org.opencontainers.image"
MODEL = "ai.modelship.model"


def created_time(source_date_epoch: str | None, fetched_at: str, commit_epoch: str = "") -> str:
    """The `created` label: SOURCE_DATE_EPOCH, else the commit time, as ISO-8601 UTC; else the fetch time."""
    epoch = (source_date_epoch or "").strip()
    if not epoch:
        if not commit_epoch.strip().isdigit():
            return fetched_at
        epoch = commit_epoch.strip()
    try:
        seconds = int(epoch)
    except ValueError:
        raise gha.StepError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970-01-01, not {source_date_epoch!r}"
        ) from None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def image_labels(
    record: Provenance, *, created: str, source_url: str = "", revision: str = ""
) -> dict[str, str]:
    """The `org.opencontainers.image.*` and `ai.modelship.model.*` labels, without empty values."""
    labels = {
        f"{OCI}.title": record.name,
        f"{OCI}.description": f"ONNX model {record.name} version {record.version}, served by modelship",
        f"{OCI}.version": record.version,
        f"{OCI}.created": created,
        f"{OCI}.source": source_url,
        f"{OCI}.revision": revision,
        f"{MODEL}.name": record.name,
        f"{MODEL}.version": record.version,
        f"{MODEL}.sha256": record.sha256,
        f"{MODEL}.folder-sha256": record.folder_sha256 or "",  # every file of the folder (provenance)
        f"{MODEL}.source": record.source,
        f"{MODEL}.uri": redact_url(record.uri)
        if record.uri.startswith(("http://", "https://"))
        else record.uri,
        f"{MODEL}.workspace": record.workspace or "",
        f"{MODEL}.resource-group": record.resource_group or "",
        f"{MODEL}.asset-id": record.asset_id or "",
        f"{MODEL}.quantized": record.quantized or "",
        f"{MODEL}.fp32-sha256": record.fp32_sha256 or "",
    }
    return {key: value for key, value in labels.items() if value}
