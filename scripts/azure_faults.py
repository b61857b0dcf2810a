"""One-line causes and fixes for the errors Azure sign-in, Azure ML and Azure Storage raise during a fetch.

Storage puts the reason for a 403 in its error code (`x-ms-error-code`); the codes below are from
https://learn.microsoft.com/troubleshoot/azure/azure-storage/blobs/authentication/storage-troubleshoot-403-errors
and https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes. The roles are
Azure ML's built-in ones (https://learn.microsoft.com/azure/machine-learning/how-to-assign-roles).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scripts import gha

if TYPE_CHECKING:
    from scripts.azure_ref import AzureModelRef

WORKSPACE_ROLE_HINT = (
    "give the signed-in identity the 'AzureML Data Scientist' role on the workspace (or a custom role "
    "with Microsoft.MachineLearningServices/workspaces/models/*/read, .../datastores/read and "
    ".../datastores/listsecrets/action); role assignments can take a few minutes to apply. Azure also "
    "answers 403 for a workspace or resource group that does not exist when you lack access to it: check "
    "those inputs too"
)
DATASTORE_ROLE_HINT = (
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
REGISTRY_ROLE_HINT = (
    "give the signed-in identity the 'AzureML Registry User' role on the registry (it may read the "
    "registry's assets and their files); role assignments can take a few minutes to apply"
)
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


STORAGE_CAUSES = {
    "AuthorizationFailure": (
        "storage account '{account}' refused this runner's network (AuthorizationFailure): its firewall "
        "or private endpoint admits only selected networks; run the job on a runner inside that virtual "
        "network (a self-hosted runner), or add the runner's outbound address to the account's firewall"
    ),
    "KeyBasedAuthenticationNotPermitted": (
        "storage account '{account}' has shared-key access turned off (KeyBasedAuthenticationNotPermitted), "
        "but the datastore signs with the account key; make the datastore identity-based (credential-less) "
        "and give the signed-in identity 'Storage Blob Data Reader' on the storage account"
    ),
    "AuthorizationPermissionMismatch": (
        "the signed-in identity may not read blobs in storage account '{account}' "
        "(AuthorizationPermissionMismatch); give it 'Storage Blob Data Reader' on the storage account "
        "(role assignments take a few minutes to apply)"
    ),
    "AuthenticationFailed": (
        "storage account '{account}' did not accept the datastore's key or SAS (AuthenticationFailed): "
        "it was rotated or has expired; update the datastore's credentials in Azure ML"
    ),
    "BlobNotFound": (
        "the model's files are gone from storage account '{account}' (BlobNotFound); re-register the model "
        "from its files"
    ),
    "ContainerNotFound": (
        "the datastore's container is gone from storage account '{account}' (ContainerNotFound); check the "
        "datastore in Azure ML"
    ),
}


def storage_cause(code: str, status: int, account: str, detail: str) -> str:
    """The cause and fix for a storage error, from its error code and HTTP status."""
    known = STORAGE_CAUSES.get(code)
    if known:
        return known.format(account=account)
    if status in {429, 500, 502, 503, 504}:
        return (
            f"storage account '{account}' kept answering HTTP {status} ({code or detail}) after the "
            "retries; it is throttled or unavailable: re-run later"
        )
    if status == 403:
        return (
            f"storage account '{account}' refused the download (403 {code or detail}); check the "
            "identity's 'Storage Blob Data Reader' role, the datastore's credentials and the account's "
            "network rules"
        )
    return f"storage account '{account}' answered HTTP {status}: {detail}"


def first_line(error: BaseException) -> str:
    """The SDK's message without its multi-line noise or tokens."""
    text = getattr(error, "message", None) or str(error)
    for line in str(text).splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("traceback", "content:")):
            return TOKEN_PATTERN.sub("***", line)
    return type(error).__name__


def network_hint(ref: AzureModelRef) -> str:
    """What to check when Azure cannot be reached: the proxy, and the cloud's hosts."""
    from scripts.azure_credential import endpoints

    cloud = endpoints(ref.cloud)
    arm_host = cloud.arm_scope.removeprefix("https://").split("/")[0]
    proxy = next((os.environ[name] for name in ("HTTPS_PROXY", "https_proxy") if os.environ.get(name)), None)
    through = f" through the proxy {proxy} (HTTPS_PROXY)" if proxy else ""
    return (
        f"cannot reach Azure{through}; check the runner's network access to {arm_host}, {cloud.authority} "
        "and the storage accounts, then re-run"
    )


@contextmanager
def azure_errors(ref: AzureModelRef, doing: str, role_hint: str = "") -> Iterator[None]:
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
            raise gha.StepError(f"{doing} failed: {network_hint(ref)} ({credential_detail(error)})") from None
        raise gha.StepError(sign_in_message(error)) from None
    except (ServiceRequestError, ServiceResponseError) as error:
        raise gha.StepError(f"{doing} failed: {network_hint(ref)} ({first_line(error)})") from None
    except HttpResponseError as error:
        if error.status_code == 403:
            hint = role_hint or (REGISTRY_ROLE_HINT if ref.registry else WORKSPACE_ROLE_HINT)
            raise gha.StepError(
                f"{doing} was refused (403) on {ref.where()}: {http_detail(error)}; {hint}"
            ) from None
        if error.status_code == 404 and error_code(error) in SCOPE_MISSING_CODES:
            raise gha.StepError(f"{scope_missing(ref)} (Azure said: {first_line(error)})") from None
        raise gha.StepError(
            f"{doing} failed: Azure answered HTTP {error.status_code}: {http_detail(error)}"
        ) from None


def scope_missing(ref: AzureModelRef) -> str:
    """The message for a workspace or registry that Azure does not know."""
    if ref.registry:
        return (
            f"registry '{ref.registry}' was not found in cloud {ref.cloud}; check "
            f"{gha.input_name('model-registry')} "
            "(the registry's name, not its resource group) and 'azure-cloud'"
        )
    return (
        f"workspace '{ref.workspace}' was not found in resource group '{ref.resource_group}' of "
        f"subscription '{ref.subscription_id}'; check "
        + ", ".join(gha.input_name(name) for name in ("azure-workspace", "azure-resource-group"))
        + f" and {gha.input_name('azure-subscription-id')}"
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


@contextmanager
def storage_errors(ref: AzureModelRef, account: str, doing: str) -> Iterator[None]:
    """Turn a storage failure into its cause and fix (azure_faults), never a traceback."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    try:
        yield
    except HttpResponseError as error:
        cause = storage_cause(error_code(error), error.status_code or 0, account, first_line(error))
        raise gha.StepError(f"{doing} failed: {cause}") from None
    except (ServiceRequestError, ServiceResponseError) as error:
        raise gha.StepError(f"{doing} failed: {network_hint(ref)} ({first_line(error)})") from None
