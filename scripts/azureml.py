"""The Azure ML source of the fetch step: resolve a registered model, download it, find its ONNX file.

Signs in with the credential `scripts.azure_credential` chooses (the Azure CLI session after
`azure/login` with OIDC, or a service principal's `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/
`AZURE_CLIENT_SECRET`) in the chosen cloud, reads the model from a workspace or from a registry
(`MLClient(registry_name=...)`), resolves `latest` or a label with `MLClient.models.get`, and streams
the model's files from storage (`scripts.azureml_files`): a workspace model's from its datastore,
a registry model's from where the registry's `datarefs` call points, with the SAS it hands out.
Every failure the user can fix becomes one `gha.StepError` that says what and what next. The Azure
SDKs are imported lazily so that the other sources never pay for them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scripts import azure_blob, azure_credential, azureml_files, gha
from scripts.azure_faults import (
    DATASTORE_ROLE_HINT,
    SCOPE_MISSING_CODES,
    azure_errors,
    error_code,
    first_line,
    scope_missing,
    storage_errors,
)
from scripts.azure_ref import AzureModelRef
from scripts.azureml_files import ModelFiles
from scripts.download_limits import Limits, Transfer

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import ContainerClient

# Errors that will not heal must fail in seconds: azure-core retries up to 10 times with backoff.
RETRY_SETTINGS: dict[str, Any] = {
    "retry_total": 2,
    "retry_connect": 1,
    "retry_read": 1,
    "retry_status": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 4,
    "connection_timeout": 10,
    "read_timeout": 60,
}


@dataclass(frozen=True)
class DownloadedModel:
    """A downloaded model version: its ONNX file and what Azure ML says about it."""

    files: ModelFiles
    name: str
    version: str
    asset_id: str
    created: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as listed by Azure ML."""

    version: str
    created: str


def describe_versions(versions: Sequence[VersionInfo]) -> str:
    """`1, 2 and 3 (the latest is 3)`, newest by creation time."""
    ordered = sorted(versions, key=lambda v: (v.created, _version_key(v.version)))
    names = [v.version for v in sorted(ordered, key=lambda v: _version_key(v.version))]
    shown = names if len(names) <= 20 else [*names[:5], "…", *names[-10:]]
    listed = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else shown[0]
    return f"{listed} (the latest is {ordered[-1].version})"


def _version_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def missing_model_message(ref: AzureModelRef, existing: Sequence[str]) -> str:
    """The message for a model name that the workspace does not have."""
    where = ref.where()
    if not existing:
        return f"model '{ref.name}' is not registered in {where}, which has no models; register it first"
    names = sorted(existing, key=str.lower)
    close = [name for name in names if name.lower() == ref.name.lower()]
    hint = f"; did you mean '{close[0]}'? names are case-sensitive" if close else ""
    shown = ", ".join(names[:30]) + (f" and {len(names) - 30} more" if len(names) > 30 else "")
    return f"model '{ref.name}' is not registered in {where}{hint}; the workspace has: {shown}"


def missing_version_message(ref: AzureModelRef, versions: Sequence[VersionInfo]) -> str:
    """The message for a version that the model does not have (it has `versions`, at least one)."""
    return (
        f"model '{ref.name}' has no version {ref.version} in {ref.where()}; it has versions "
        f"{describe_versions(versions)}; set {gha.input_name('model-version')} to one of them or to 'latest'"
    )


def no_versions_message(ref: AzureModelRef) -> str:
    """The message for a model whose version list is empty (all archived, or none registered)."""
    return (
        f"model '{ref.name}' in {ref.where()} has no active versions (archived versions "
        "are not listed); register a version or restore an archived one"
    )


def _mask_secrets() -> None:
    secret = os.environ.get("AZURE_CLIENT_SECRET")
    if secret:
        gha.mask(secret)


def sign_in(
    credential: TokenCredential, ref: AzureModelRef, kind: azure_credential.CredentialKind, arm_scope: str
) -> None:
    """Get an ARM token once up front, so a failed sign-in is told apart from a refused request."""
    try:
        with azure_errors(ref, f"signing in to Azure ({ref.cloud})"):
            token = credential.get_token(arm_scope)
    except gha.StepError as error:
        raise gha.StepError(f"{error} (the step signed in with {kind.value})") from None
    gha.mask(token.token)


def list_versions(client: MLClient, ref: AzureModelRef) -> list[VersionInfo]:
    """The model's active versions, or [] when the model has none."""
    from azure.core.exceptions import ResourceNotFoundError

    with azure_errors(ref, f"listing the versions of model '{ref.name}'"):
        try:
            models = list(client.models.list(name=ref.name))
        except ResourceNotFoundError:
            return []
    return [VersionInfo(str(m.version), _created(m)) for m in models]


def list_model_names(client: MLClient, ref: AzureModelRef) -> list[str]:
    """The names of the models registered in the workspace."""
    from azure.ai.ml.constants import ListViewType

    with azure_errors(ref, f"listing the models of {ref.where()}"):
        # All, not only active: a model whose versions are all archived still exists.
        return sorted({str(m.name) for m in client.models.list(list_view_type=ListViewType.ALL)})


def explain_missing(client: MLClient, ref: AzureModelRef) -> str:
    """After a not-found: is it the model, the version, or an empty version list?"""
    versions = list_versions(client, ref)
    if versions:
        return missing_version_message(ref, versions)
    names = list_model_names(client, ref)
    if ref.name not in names:
        return missing_model_message(ref, names)
    return no_versions_message(ref)


def resolve(client: MLClient, ref: AzureModelRef) -> Any:
    """The model version `ref` points at (`latest` and labels resolved by Azure ML)."""
    from azure.ai.ml.exceptions import ValidationException
    from azure.core.exceptions import ResourceNotFoundError

    label = ref.label or ("latest" if (ref.version or "latest").strip().lower() == "latest" else None)
    with azure_errors(ref, f"reading model '{ref.name}'"):
        try:
            if label:
                return client.models.get(ref.name, label=label)
            return client.models.get(ref.name, version=ref.version.strip())
        except ResourceNotFoundError as error:
            if error_code(error) in SCOPE_MISSING_CODES:
                raise
            raise gha.StepError(explain_missing(client, ref)) from None
        except ValidationException as error:
            if label and label != "latest" and "label" in str(error).lower():
                raise gha.StepError(
                    f"Azure ML resolves no label '{label}' for model '{ref.name}' (azure-ai-ml knows only "
                    f"the label 'latest'); give {gha.input_name('model-version')} instead"
                ) from None
            if "does not exist" in str(error):
                raise gha.StepError(explain_missing(client, ref)) from None
            raise gha.StepError(
                f"Azure ML refused the request for model '{ref.name}': {first_line(error)}"
            ) from None


def _created(model: Any) -> str:
    context = getattr(model, "creation_context", None)
    created = getattr(context, "created_at", None)
    if created is None:
        return ""
    text = created.isoformat() if hasattr(created, "isoformat") else str(created)
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def make_client(credential: TokenCredential, ref: AzureModelRef) -> MLClient:
    """An MLClient for the workspace or the registry, in the ref's cloud, with bounded retries and no
    telemetry. For a registry the SDK asks the discovery service where it lives, here and now."""
    from azure.ai.ml import MLClient

    scope: dict[str, str | None] = (
        {"registry_name": ref.registry, "subscription_id": None, "resource_group_name": None}
        if ref.registry
        else {
            "subscription_id": ref.subscription_id,
            "resource_group_name": ref.resource_group,
            "workspace_name": ref.workspace,
        }
    )
    from azure.core.exceptions import ResourceNotFoundError

    settings: dict[str, Any] = {"cloud": ref.cloud, "enable_telemetry": False, "show_progress": False}
    with azure_errors(ref, f"finding {ref.where()}"):
        try:
            return MLClient(credential, **scope, **settings, **RETRY_SETTINGS)
        except ResourceNotFoundError as error:  # the registry discovery service does not know the name
            raise gha.StepError(f"{scope_missing(ref)} (Azure said: {first_line(error)})") from None


def open_storage(
    client: MLClient, ref: AzureModelRef, model: Any, credential: TokenCredential
) -> tuple[ContainerClient, str]:
    """The container client and blob prefix of a resolved model version's files."""
    if ref.registry:
        with azure_errors(ref, f"asking registry '{ref.registry}' where model '{ref.name}' is stored"):
            return azure_blob.open_registry_files(
                client, ref, str(model.version), str(model.path), credential
            )
    datastore, prefix = azure_blob.parse_model_uri(str(model.path))
    with azure_errors(ref, f"reading datastore '{datastore}'", DATASTORE_ROLE_HINT):
        return azure_blob.open_container(client, datastore, credential), prefix


def download(ref: AzureModelRef, dest: Path, onnx_file: str | None, limits: Limits) -> DownloadedModel:
    """Download the registered model's ONNX file, its external data and sidecars under `dest`.

    Returns where they are and the version's metadata; raises gha.StepError when anything is
    wrong, with the fix in the message.
    """
    _mask_secrets()
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    cloud = azure_credential.endpoints(ref.cloud)
    kind = azure_credential.choose(os.environ)
    credential = azure_credential.make(kind, cloud, **RETRY_SETTINGS)
    sign_in(credential, ref, kind, cloud.arm_scope)
    client = make_client(credential, ref)
    model = resolve(client, ref)
    version = str(model.version)
    container, prefix = open_storage(client, ref, model, credential)
    transfer = Transfer(limits, where=f"storage account '{container.account_name}'")
    with storage_errors(
        ref, str(container.account_name), f"downloading model '{ref.name}' version {version}"
    ):
        try:
            files = azureml_files.download_model_files(container, prefix, dest, onnx_file, transfer)
        except gha.StepError as error:
            raise gha.StepError(f"model '{ref.name}' version {version}: {error}") from None
    return DownloadedModel(
        files=files,
        name=ref.name,
        version=version,
        asset_id=str(model.id),
        created=_created(model),
        tags={str(key): str(value) for key, value in (model.tags or {}).items()},
    )
