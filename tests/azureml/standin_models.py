"""Azure ML model assets as the stand-in keeps and serves them, in a workspace or in a registry."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .standin_storage import BlobAccount


@dataclass
class ModelVersion:
    """One registered version: where its files live and what Azure ML says about it."""

    name: str
    version: str
    created: str
    path: str  # datastore path of the model: a blob name, or a folder ending in "/"
    tags: dict[str, str] = field(default_factory=dict)
    archived: bool = False


class Shelf:
    """Models whose files live in one storage account: a workspace's, or a registry's."""

    account: BlobAccount
    models: dict[str, list[ModelVersion]]

    def register(
        self,
        name: str,
        version: str,
        files: dict[str, bytes],
        *,
        folder: str | None = None,
        created: str = "2026-01-01T00:00:00Z",
        tags: dict[str, str] | None = None,
        archived: bool = False,
    ) -> ModelVersion:
        """Register a version, its files uploaded as Azure ML's LocalUpload does: one file (folder=None,
        exactly one entry) or a folder of files."""
        upload = f"LocalUpload/{hashlib.sha256(f'{name}:{version}'.encode()).hexdigest()[:32]}"
        if folder is None:
            if len(files) > 1:
                raise ValueError("a single-file model takes exactly one file; use folder=")
            path = f"{upload}/{next(iter(files), 'model.onnx')}"
        else:
            path = f"{upload}/{folder}/"
        for relative, data in files.items():
            self.account.blobs[path + relative if folder is not None else path] = data
        entry = ModelVersion(name, version, created, path, dict(tags or {}), archived)
        self.models.setdefault(name, []).append(entry)
        return entry


def version_resource(resource_id: str, kind: str, entry: ModelVersion, uri: str) -> dict[str, Any]:
    """A model version resource as Azure ML returns it."""
    return {
        "id": resource_id,
        "name": entry.version,
        "type": kind,
        "properties": {
            "description": None,
            "tags": entry.tags,
            "properties": {},
            "isArchived": entry.archived,
            "isAnonymous": False,
            "flavors": {},
            "modelType": "custom_model",
            "modelUri": uri,
            "jobName": None,
            "stage": "Development",
            "provisioningState": "Succeeded",
        },
        "systemData": {
            "createdAt": entry.created,
            "createdBy": "someone@example.com",
            "createdByType": "User",
            "lastModifiedAt": entry.created,
            "lastModifiedBy": "someone@example.com",
            "lastModifiedByType": "User",
        },
    }


def container_resource(
    resource_id: str, kind: str, name: str, versions: list[ModelVersion]
) -> dict[str, Any]:
    """A model container resource as Azure ML returns it."""
    latest = max(versions, key=lambda v: v.created).version if versions else None
    return {
        "id": resource_id,
        "name": name,
        "type": kind,
        "properties": {
            "description": None,
            "tags": {},
            "properties": {},
            "isArchived": False,
            "latestVersion": latest,
            "nextVersion": None,
            "provisioningState": "Succeeded",
        },
        "systemData": {"createdAt": "2026-01-01T00:00:00Z", "createdBy": "someone@example.com"},
    }


def answer_models(
    method: str,
    parts: list[str],
    query: dict[str, str],
    models: dict[str, list[ModelVersion]],
    version_body: Callable[[ModelVersion], dict[str, Any]],
    container_body: Callable[[str], dict[str, Any]],
) -> tuple[int, Any]:
    """The model routes a workspace and a registry share: containers, versions, one version."""
    active_only = query.get("listViewType", "ActiveOnly") == "ActiveOnly"
    match method, parts:
        case "GET", ["models"]:
            names = [n for n, vs in models.items() if not active_only or any(not v.archived for v in vs)]
            return 200, {"value": [container_body(name) for name in names]}
        case "GET", ["models", name]:
            if name not in models:
                return 404, not_found(f"Model container {name}")
            return 200, container_body(name)
        case "GET", ["models", name, "versions"]:
            versions = [v for v in models.get(name, []) if not (active_only and v.archived)]
            if query.get("$orderBy", "").startswith("createdtime"):
                versions.sort(key=lambda v: v.created, reverse=query["$orderBy"].endswith("desc"))
            if "$top" in query:
                versions = versions[: int(query["$top"])]
            return 200, {"value": [version_body(v) for v in versions]}
        case "GET", ["models", name, "versions", version]:
            for entry in models.get(name, []):
                if entry.version == version:
                    return 200, version_body(entry)
            return 404, not_found(f"Model {name}:{version}")
    return 404, not_found("/".join(parts))


def arm_error(code: str, message: str) -> dict[str, Any]:
    """An ARM error body."""
    return {"error": {"code": code, "message": message}}


def not_found(what: str) -> dict[str, Any]:
    """The 404 body Azure ML returns for a missing asset."""
    return arm_error("UserError", f"{what} not found")
