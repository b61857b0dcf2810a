"""Stream a registered model's files from its blob datastore to disk, within a size cap and a deadline.

`MLClient.models.download` reads each blob whole into memory (a 600 MiB blob peaked at 855 MiB
RSS) and wraps storage failures in `MlException`. Here `azure-storage-blob` reads in 4 MiB chunks
with the datastore's own credential: its account key or SAS (from `datastores.get(...,
include_secrets=True)`, the `listSecrets` call), or the signed-in identity for an identity-based
datastore. Throttling (429) and server errors (5xx) are retried a bounded number of times,
resuming at the last byte written and waiting as long as `Retry-After` says (Azure Storage sends
it with 503 ServerBusy: https://learn.microsoft.com/en-us/azure/storage/blobs/scalability-targets).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from scripts import gha
from scripts.download_limits import Transfer

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import ContainerClient

    from scripts.azure_ref import AzureModelRef

CHUNK = 4 * 1024 * 1024
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class StoredFile:
    """A blob of the model: its name in the container, its path in the model, its size."""

    blob: str
    relative: str
    size: int


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`azureml://…/datastores/<ds>/paths/<prefix>` → (datastore, prefix)."""
    head, marker, prefix = uri.partition("/paths/")
    datastore = head.rstrip("/").split("/datastores/")[-1] if "/datastores/" in head else ""
    if not marker or not datastore or not prefix:
        raise gha.StepError(
            f"the model's path {uri!r} is not a datastore path; register the model from files"
        )
    return datastore, prefix


def open_container(client: Any, datastore_name: str, credential: TokenCredential) -> ContainerClient:
    """A client for the datastore's container, signed with the datastore's key, SAS or our identity."""
    from azure.ai.ml.entities import AccountKeyConfiguration, SasTokenConfiguration

    datastore = client.datastores.get(datastore_name, include_secrets=True)
    container = getattr(datastore, "container_name", None)
    if not container:
        raise gha.StepError(
            f"datastore '{datastore_name}' is of type {datastore.type}, not a blob container; modelship "
            "downloads models from Azure Blob datastores only"
        )
    secret: Any = credential  # identity-based: the signed-in identity needs Storage Blob Data Reader
    if isinstance(datastore.credentials, AccountKeyConfiguration):
        secret = datastore.credentials.account_key
    elif isinstance(datastore.credentials, SasTokenConfiguration):
        secret = datastore.credentials.sas_token
    if isinstance(secret, str):
        gha.mask(secret)
    account_url = f"{datastore.protocol or 'https'}://{datastore.account_name}.blob.{datastore.endpoint}"
    return container_client(account_url, container, secret)


def container_client(account_url: str, container: str, credential: Any) -> ContainerClient:
    """A container client that reads in CHUNK pieces and leaves retrying to `retrying`."""
    from azure.storage.blob import ContainerClient

    return ContainerClient(
        account_url,
        container,
        credential=credential,
        retry_total=0,  # retried here, resuming where a chunk failed, so that Retry-After is honoured
        max_single_get_size=CHUNK,
        max_chunk_get_size=CHUNK,
        connection_timeout=10,
        read_timeout=60,
    )


def open_registry_files(
    client: MLClient, ref: AzureModelRef, version: str, blob_uri: str, credential: TokenCredential
) -> tuple[ContainerClient, str]:
    """The container and prefix of a registry model's files, with the credential the registry grants.

    A registry keeps its assets in its own storage; its data plane's `datarefs` call answers the
    blob URI to read and a SAS URI for it, or `NoCredentials` when the caller's identity reads it.
    This is the request `ModelOperations.download` makes for a registry model (azure-ai-ml 1.35,
    azure/ai/ml/_utils/_registry_utils.py `get_storage_details_for_registry_assets`, whose
    `NoCredentials` branch never matches the wire value), sent through the registry client the
    MLClient built after discovery.
    """
    from azure.core.rest import HttpRequest

    service = client.models._registry_service_client  # the discovered registry data plane
    request = HttpRequest(
        "POST",
        f"/subscriptions/{client.subscription_id}/resourceGroups/{client.resource_group_name}"
        f"/providers/Microsoft.MachineLearningServices/registries/{ref.registry}"
        f"/datarefs/{ref.name}/versions/{version}",
        params={"api-version": "2021-10-01-dataplanepreview"},
        headers={"Accept": "application/json"},
        json={"assetId": ref.asset_uri(version), "blobUri": blob_uri},
    )
    response = service.send_request(request)
    response.raise_for_status()
    reference = response.json()["blobReferenceForConsumption"]
    credential_info = reference.get("credential") or {}
    secret: Any = credential  # NoCredentials: the signed-in identity reads the registry's storage
    where = str(reference.get("blobUri") or blob_uri)
    if credential_info.get("credentialType") == "SAS" and credential_info.get("sasUri"):
        where = str(credential_info["sasUri"])
        secret = urlsplit(where).query
        gha.mask(secret)
    parts = urlsplit(where)
    container, _, prefix = unquote(parts.path).lstrip("/").partition("/")
    if not container or not prefix:
        raise gha.StepError(f"the registry answered a storage location without a path ({parts.netloc})")
    return container_client(f"{parts.scheme}://{parts.netloc}", container, secret), prefix


def list_files(container: ContainerClient, prefix: str, transfer: Transfer) -> list[StoredFile]:
    """The model's blobs: the one blob named `prefix`, or every blob under the folder `prefix`."""
    folder = prefix if prefix.endswith("/") else prefix + "/"

    def listing() -> list[StoredFile]:
        found = []
        for blob in container.list_blobs(name_starts_with=prefix.rstrip("/")):
            if blob.name == prefix.rstrip("/"):
                found.append(StoredFile(blob.name, blob.name.rsplit("/", 1)[-1], int(blob.size or 0)))
            elif blob.name.startswith(folder):
                found.append(StoredFile(blob.name, blob.name[len(folder) :], int(blob.size or 0)))
        return found

    return retrying(listing, f"listing {prefix}", transfer)


def download_file(container: ContainerClient, stored: StoredFile, target: Path, transfer: Transfer) -> None:
    """Stream one blob to `target` in chunks, resuming after a retried failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("wb") as out:

        def attempt() -> None:
            nonlocal written
            stream = container.download_blob(stored.blob, offset=written or None)
            for chunk in stream.chunks():
                transfer.add(len(chunk), stored.relative)
                out.write(chunk)
                written += len(chunk)

        retrying(attempt, stored.relative, transfer)


def retrying(action: Callable[[], T], what: str, transfer: Transfer) -> T:
    """Run `action`, retrying throttling and server errors as often as the limits allow."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    for attempt in range(1, transfer.limits.attempts + 1):
        try:
            return action()
        except HttpResponseError as error:
            status = error.status_code or 0
            if status not in RETRYABLE or attempt == transfer.limits.attempts:
                raise
            headers: Mapping[str, str] = getattr(error.response, "headers", None) or {}
            wait = retry_delay(headers, attempt)
        except (ServiceRequestError, ServiceResponseError):
            if attempt == transfer.limits.attempts:
                raise
            wait = retry_delay({}, attempt)
        if wait > min(transfer.limits.longest_wait, transfer.remaining()):
            raise gha.StepError(
                f"{transfer.where} asked to wait {wait:g} s before retrying {what}, "
                f"longer than the {transfer.limits.timeout:g} s timeout leaves; re-run later, or raise "
                f"{gha.input_name('timeout')}"
            )
        gha.annotate("warning", f"{transfer.where} is busy; retrying {what} in {wait:g} s")
        time.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def retry_delay(headers: Mapping[str, str], attempt: int, now: float | None = None) -> float:
    """Seconds to wait: `Retry-After` (seconds or HTTP date), `x-ms-retry-after-ms`, else 1, 2, 4 s."""
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when - (time.time() if now is None else now))
    milliseconds = lowered.get("x-ms-retry-after-ms", "").strip()
    if milliseconds.isdigit():
        return int(milliseconds) / 1000
    return float(2 ** (attempt - 1))
