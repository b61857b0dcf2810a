"""Azure ML registries in the stand-in: discovery, the registry data plane's model routes, and `datarefs`.

What azure-ai-ml 1.35 asks for with `MLClient(registry_name=...)`, read from its code
(azure/ai/ml/_utils/_registry_utils.py):
- `GET https://<discovery host>/registrymanagement/v1.0/registries/<r>/discovery` → the registry's
  subscription, resource group and `primaryRegionResourceProviderUri`;
- on that host, under `mferp/managementfrontend`, the ARM-shaped model routes
  `.../registries/<r>/models[/<n>[/versions[/<v>]]]` with api-version 2021-10-01-dataplanepreview;
- `POST .../registries/<r>/datarefs/<n>/versions/<v>` with `{"assetId", "blobUri"}` → the blob URI to read
  and its credential: a SAS URI, or `NoCredentials` (the caller's identity reads it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .standin_models import (
    ModelVersion,
    Shelf,
    answer_models,
    arm_error,
    container_resource,
    not_found,
    version_resource,
)
from .standin_storage import BlobAccount

if TYPE_CHECKING:
    from .standin import Azure

API_VERSION = "2021-10-01-dataplanepreview"
MFE_PREFIX = "/mferp/managementfrontend"
REGISTRY_SUBSCRIPTION = "77777777-6666-5555-4444-333333333333"
REGISTRY_RESOURCE_GROUP = "rg-shared-models"
REGISTRY_KEY = "cmVnaXN0cnkta2V5LW5vdC1hLXJlYWwtc2VjcmV0LTAwMDAwMDAwMDAwMDAwMA=="
SAS, NO_CREDENTIALS = "SAS", "NoCredentials"  # the credentialType values `datarefs` answers with
# The registry data plane's host: the form azure-ai-ml builds for a region
# (azure/ai/ml/_utils/_registry_utils.py, RegistryDiscovery._get_registry_details).
REGISTRY_REGION = "eastus"
REGISTRY_HOST = f"cert-{REGISTRY_REGION}.experiments.azureml.net"
FAULT_REGISTRY_FORBIDDEN = "registry-403"


@dataclass
class Registry(Shelf):
    """One Azure ML registry: its models, and the storage account that holds their files."""

    name: str
    account: BlobAccount
    blob_suffix: str
    credential: str = SAS
    models: dict[str, list[ModelVersion]] = field(default_factory=dict)

    def resource_id(self) -> str:
        """The registry's ARM id (the subscription and group discovery reveals)."""
        return (
            f"/subscriptions/{REGISTRY_SUBSCRIPTION}/resourceGroups/{REGISTRY_RESOURCE_GROUP}"
            f"/providers/Microsoft.MachineLearningServices/registries/{self.name}"
        )

    def blob_uri(self, entry: ModelVersion) -> str:
        """Where a version's files are: `https://<account>.blob.<suffix>/<container>/<path>`."""
        return f"https://{self.account.name}{self.blob_suffix}/{self.account.container}/{entry.path}"

    def version_body(self, entry: ModelVersion) -> dict[str, Any]:
        """A registry model version as the data plane returns it (an `azureml://registries/...` id)."""
        return version_resource(
            f"azureml://registries/{self.name}/models/{entry.name}/versions/{entry.version}",
            "Microsoft.MachineLearningServices/registries/models/versions",
            entry,
            self.blob_uri(entry),
        )

    def container_body(self, name: str) -> dict[str, Any]:
        """A registry model container."""
        return container_resource(
            f"azureml://registries/{self.name}/models/{name}",
            "Microsoft.MachineLearningServices/registries/models",
            name,
            self.models[name],
        )

    def data_reference(self, name: str, version: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`datarefs`: the blob URI of a version and the credential to read it with."""
        entry = next((v for v in self.models.get(name, []) if v.version == version), None)
        if entry is None:
            return 404, not_found(f"Model {name}:{version}")
        asset_id = f"azureml://registries/{self.name}/models/{name}/versions/{version}"
        if body.get("assetId") != asset_id or body.get("blobUri") != self.blob_uri(entry):
            return 400, arm_error("UserError", f"assetId/blobUri do not name {asset_id}: {body}")
        credential: dict[str, str] = {"credentialType": self.credential}
        if self.credential == SAS:
            credential["sasUri"] = f"{self.blob_uri(entry)}?{self.account.sas()}"
        return 200, {
            "blobReferenceForConsumption": {
                "blobUri": self.blob_uri(entry),
                "storageAccountArmId": f"/subscriptions/{REGISTRY_SUBSCRIPTION}/resourceGroups/"
                f"{REGISTRY_RESOURCE_GROUP}/providers/Microsoft.Storage/storageAccounts/{self.account.name}",
                "credential": credential,
            }
        }


def add_registry(azure: Azure, name: str, credential: str = SAS) -> Registry:
    """Create a registry in the stand-in, with its own storage account."""
    account = BlobAccount(f"{name.replace('-', '')[:16]}store", "registry-assets", REGISTRY_KEY)
    registry = Registry(name, account, azure.cloud.blob_suffix, credential)
    azure.registries[name] = registry
    return registry


def answer_discovery(azure: Azure, method: str, path: str) -> tuple[int, dict[str, Any]]:
    """The registry discovery service: where a registry lives."""
    parts = [unquote(part) for part in path.strip("/").split("/")]
    if (
        method != "GET"
        or parts[:3] != ["registrymanagement", "v1.0", "registries"]
        or parts[4:] != ["discovery"]
    ):
        return 404, not_found(path)
    registry = azure.registries.get(parts[3])
    if registry is None:
        return 404, arm_error("NotFound", f"Registry {parts[3]} not found")
    return 200, {
        "registryName": registry.name,
        "tenantId": azure.tenant_id,
        "primaryRegion": REGISTRY_REGION,
        "regions": [REGISTRY_REGION],
        "subscriptionId": REGISTRY_SUBSCRIPTION,
        "resourceGroup": REGISTRY_RESOURCE_GROUP,
        "workspaceName": None,
        "primaryRegionResourceProviderUri": f"https://{REGISTRY_HOST}/",
    }


def answer_registry(
    azure: Azure, method: str, path: str, query: dict[str, str], body: bytes
) -> tuple[int, Any]:
    """The registry data plane: model routes and `datarefs`, under a discovered registry's id."""
    if FAULT_REGISTRY_FORBIDDEN in azure.faults:
        return 403, arm_error(
            "AuthorizationFailed",
            "The client does not have authorization to perform action "
            "'Microsoft.MachineLearningServices/registries/assets/read' over the registry.",
        )
    if query.get("api-version") != API_VERSION:
        return 400, arm_error("InvalidApiVersion", f"api-version {query.get('api-version')!r}")
    for registry in azure.registries.values():
        prefix = (MFE_PREFIX + registry.resource_id()).lower() + "/"
        if path.lower().startswith(prefix):
            break
    else:
        return 404, arm_error("ResourceNotFound", f"no registry at {path}")
    parts = [unquote(part) for part in path[len(prefix) :].split("/")]
    with azure.lock:
        if method == "POST" and len(parts) == 4 and parts[0] == "datarefs" and parts[2] == "versions":
            return registry.data_reference(parts[1], parts[3], json.loads(body or b"{}"))
        return answer_models(
            method, parts, query, registry.models, registry.version_body, registry.container_body
        )
