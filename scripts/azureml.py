"""The Azure ML source of the fetch step: resolve a registered model, download it, find its ONNX file.

Signs in with the credential `scripts.azure_credential` chooses (the Azure CLI session after
`azure/login` with OIDC, or a service principal's `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/
`AZURE_CLIENT_SECRET`), resolves `latest` or a label with `MLClient.models.get`, and streams the
model's files from its datastore (`scripts.azureml_files`). Every failure the user can fix becomes
one `gha.StepError` that says what and what next. The Azure SDKs are imported lazily so that the
other sources never pay for them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scripts import azure_blob, azure_credential, azure_faults, azureml_files, gha
from scripts.azure_blob import Limits
from scripts.azureml_files import ModelFiles

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

ARM_SCOPE = "https://management.azure.com/.default"
ROLE_HINT = (
    "give the signed-in identity the 'AzureML Data Scientist' role on the workspace (or a custom role "
    "with Microsoft.MachineLearningServices/workspaces/models/*/read, .../datastores/read and "
    ".../datastores/listsecrets/action); role assignments can take a few minutes to apply. Azure also "
    "answers 403 for a workspace or resource group that does not exist when you lack access to it: check "
    "those inputs too"
)
STORAGE_ROLE_HINT = (
    "the download from the workspace's storage account was refused: with a credential-less "
    "(identity-based) datastore the identity needs 'Storage Blob Data Reader' on the storage account; "
    "otherwise it needs the 'AzureML Data Scientist' role on the workspace to read the datastore's key"
)
SIGN_IN_HINT = (
    "in GitHub Actions run azure/login first with client-id, tenant-id and subscription-id (OIDC, the job "
    "needs `permissions: id-token: write` and a federated credential whose subject matches the job), or "
    "set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal"
)
CREDENTIAL_VARIABLES = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
)
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
NETWORK_MARKERS = (
    "Unable to connect to proxy",
    "Failed to establish a new connection",
    "Connection refused",
    "Connection aborted",
    "Max retries exceeded",
    "timed out",
    "Name or service not known",
    "Temporary failure in name resolution",
)
SCOPE_MISSING_CODES = frozenset({"ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound"})
TOKEN_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class AzureModelRef:
    """Where a registered model lives and which version to take."""

    subscription_id: str
    resource_group: str
    workspace: str
    name: str
    version: str = "latest"
    label: str | None = None


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


def check_ref(ref: AzureModelRef) -> None:
    """Refuse incomplete or contradictory coordinates before any network call."""
    missing = [
        option
        for option, value in (
            ("subscription-id", ref.subscription_id),
            ("resource-group", ref.resource_group),
            ("workspace", ref.workspace),
            ("model-name", ref.name),
        )
        if not (value or "").strip()
    ]
    if missing:
        raise gha.StepError(
            f"the azureml source needs {', '.join('--' + name for name in missing)} "
            "(or the matching action inputs); give the workspace coordinates and the registered model's name"
        )
    version = (ref.version or "latest").strip()
    if ref.label and version.lower() != "latest":
        raise gha.StepError(
            f"give either model-version ({ref.version}) or model-label ({ref.label}), not both; "
            "a label picks the version for you"
        )


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
    where = f"workspace '{ref.workspace}' (resource group '{ref.resource_group}')"
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
        f"model '{ref.name}' has no version {ref.version} in workspace '{ref.workspace}'; it has versions "
        f"{describe_versions(versions)}; set model-version to one of them or to 'latest'"
    )


def no_versions_message(ref: AzureModelRef) -> str:
    """The message for a model whose version list is empty (all archived, or none registered)."""
    return (
        f"model '{ref.name}' in workspace '{ref.workspace}' has no active versions (archived versions "
        "are not listed); register a version or restore an archived one"
    )


def first_line(error: BaseException) -> str:
    """The SDK's message without its multi-line noise or tokens."""
    text = getattr(error, "message", None) or str(error)
    for line in str(text).splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("traceback", "content:")):
            return TOKEN_PATTERN.sub("***", line)
    return type(error).__name__


def _network_hint() -> str:
    proxy = next((os.environ[name] for name in ("HTTPS_PROXY", "https_proxy") if os.environ.get(name)), None)
    through = f" through the proxy {proxy} (HTTPS_PROXY)" if proxy else ""
    return (
        f"cannot reach Azure{through}; check the runner's network access to management.azure.com, "
        "login.microsoftonline.com and *.blob.core.windows.net, then re-run"
    )


@contextmanager
def azure_errors(ref: AzureModelRef, doing: str, role_hint: str = ROLE_HINT) -> Iterator[None]:
    """Turn the SDK's sign-in, permission and network failures into one StepError each."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except MlException as error:
        raise gha.StepError(f"{doing} failed: Azure ML said: {first_line(error)}") from None
    except ClientAuthenticationError as error:
        if is_network_failure(str(error)):
            raise gha.StepError(f"{doing} failed: {_network_hint()} ({credential_detail(error)})") from None
        raise gha.StepError(sign_in_message(error)) from None
    except (ServiceRequestError, ServiceResponseError) as error:
        raise gha.StepError(f"{doing} failed: {_network_hint()} ({first_line(error)})") from None
    except HttpResponseError as error:
        if error.status_code == 403:
            raise gha.StepError(
                f"{doing} was refused (403) on workspace '{ref.workspace}' in resource group "
                f"'{ref.resource_group}': {http_detail(error)}; {role_hint}"
            ) from None
        if error.status_code == 404 and error_code(error) in SCOPE_MISSING_CODES:
            raise gha.StepError(f"{_workspace_missing(ref)} (Azure said: {first_line(error)})") from None
        raise gha.StepError(
            f"{doing} failed: Azure answered HTTP {error.status_code}: {http_detail(error)}"
        ) from None


def _workspace_missing(ref: AzureModelRef) -> str:
    return (
        f"workspace '{ref.workspace}' was not found in resource group '{ref.resource_group}' of "
        f"subscription '{ref.subscription_id}'; check the workspace, resource-group and "
        "subscription-id inputs"
    )


def error_code(error: Any) -> str:
    """The error code of an HttpResponseError: ARM's (`ResourceNotFound`) or storage's header."""
    code = getattr(error, "error_code", None) or getattr(getattr(error, "error", None), "code", None)
    return str(getattr(code, "value", code) or "")


def http_detail(error: Any) -> str:
    """The first line of an HTTP error, with its error code when the line lacks it."""
    line, code = first_line(error), error_code(error)
    return f"{line} ({code})" if code and code not in line else line


def credential_detail(error: BaseException) -> str:
    """Why sign-in failed, from DefaultAzureCredential's tab-indented line per credential it tried."""
    text = TOKEN_PATTERN.sub("***", str(getattr(error, "message", None) or error))
    tried = [line.strip() for line in text.splitlines() if line.startswith("\t") and "Credential" in line]
    return "; ".join(tried).rstrip(".") or first_line(error)


def sign_in_message(error: BaseException) -> str:
    """Explain a failed sign-in: what the credentials said, which variables are set, what to check."""
    text = str(getattr(error, "message", None) or error)
    said = credential_detail(error)
    codes = sorted(set(re.findall(r"AADSTS\d+", text)))
    present = [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]
    absent = [name for name in CREDENTIAL_VARIABLES if name not in present]
    have = f"set: {', '.join(present) or 'none'}; not set: {', '.join(absent) or 'none'}"
    code_text = f" ({', '.join(codes)})" if codes else ""
    return f"sign-in to Azure failed{code_text}: {said}. Variables {have}. To fix: {SIGN_IN_HINT}"


def is_network_failure(text: str) -> bool:
    """True when an error message says the network, not the credentials, failed."""
    return any(marker in text for marker in NETWORK_MARKERS)


def _mask_secrets() -> None:
    secret = os.environ.get("AZURE_CLIENT_SECRET")
    if secret:
        gha.mask(secret)


def sign_in(credential: TokenCredential, ref: AzureModelRef, kind: azure_credential.CredentialKind) -> None:
    """Get an ARM token once up front, so a failed sign-in is told apart from a refused request."""
    try:
        with azure_errors(ref, "signing in to Azure"):
            token = credential.get_token(ARM_SCOPE)
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

    with azure_errors(ref, f"listing the models of workspace '{ref.workspace}'"):
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
                    "the label 'latest'); give model-version instead"
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
    """An MLClient for the workspace with bounded retries and no telemetry."""
    from azure.ai.ml import MLClient

    return MLClient(
        credential,
        subscription_id=ref.subscription_id.strip(),
        resource_group_name=ref.resource_group.strip(),
        workspace_name=ref.workspace.strip(),
        enable_telemetry=False,
        show_progress=False,
        **RETRY_SETTINGS,
    )


def download(ref: AzureModelRef, dest: Path, onnx_file: str | None, limits: Limits) -> DownloadedModel:
    """Download the registered model's ONNX file, its external data and sidecars under `dest`.

    Returns where they are and the version's metadata; raises gha.StepError when anything is
    wrong, with the fix in the message.
    """
    check_ref(ref)
    _mask_secrets()
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    kind = azure_credential.choose(os.environ)
    credential = azure_credential.make(kind, **RETRY_SETTINGS)
    sign_in(credential, ref, kind)
    client = make_client(credential, ref)
    model = resolve(client, ref)
    version = str(model.version)
    datastore, prefix = azure_blob.parse_model_uri(str(model.path))
    with azure_errors(ref, f"reading datastore '{datastore}'", STORAGE_ROLE_HINT):
        container = azure_blob.open_container(client, datastore, credential)
    transfer = azure_blob.Transfer(limits, account=str(container.account_name))
    with storage_errors(transfer.account, f"downloading model '{ref.name}' version {version}"):
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


@contextmanager
def storage_errors(account: str, doing: str) -> Iterator[None]:
    """Turn a storage failure into its cause and fix (azure_faults), never a traceback."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    try:
        yield
    except HttpResponseError as error:
        cause = azure_faults.storage_cause(
            error_code(error), error.status_code or 0, account, first_line(error)
        )
        raise gha.StepError(f"{doing} failed: {cause}") from None
    except (ServiceRequestError, ServiceResponseError) as error:
        raise gha.StepError(f"{doing} failed: {_network_hint()} ({first_line(error)})") from None
