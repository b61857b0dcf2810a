"""Which Azure credential the fetch signs in with, chosen explicitly rather than by a chain.

`DefaultAzureCredential` tries a managed identity before the Azure CLI: on a self-hosted runner on
an Azure VM it signs in as the VM, not as the identity `azure/login` signed in
(https://learn.microsoft.com/python/api/azure-identity/azure.identity.defaultazurecredential). So:
a service principal's secret (or a workload identity's token file) in the environment selects
`EnvironmentCredential`/`WorkloadIdentityCredential`; otherwise the step uses the Azure CLI session
that `azure/login` left (the OIDC path), with `AzureCliCredential`.

The cloud (input `azure-cloud`) decides where the credential signs in (its authority) and the scope
of the ARM token; both come from azure-ai-ml's own cloud table (`azure.ai.ml._azure_environments`),
the one MLClient uses, so that the three can never disagree. The Azure CLI signs in to the cloud
`az cloud set` (or azure/login's `environment`) chose.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class CredentialKind(enum.Enum):
    """The ways the step can sign in."""

    CLIENT_SECRET = "client secret (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET)"
    WORKLOAD_IDENTITY = "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
    AZURE_CLI = "the Azure CLI session (azure/login)"


@dataclass(frozen=True)
class CloudEndpoints:
    """Where a cloud signs in, and the scope of its ARM tokens."""

    name: str
    authority: str  # the Entra ID host, e.g. login.chinacloudapi.cn
    arm_scope: str  # e.g. https://management.chinacloudapi.cn/.default


def endpoints(cloud: str) -> CloudEndpoints:
    """The sign-in host and ARM scope of a cloud checked by `azure_ref.check_cloud`."""
    from azure.ai.ml._azure_environments import EndpointURLS, _environments

    details = _environments[cloud]
    arm = details[EndpointURLS.RESOURCE_MANAGER_ENDPOINT].rstrip("/")
    authority = urlsplit(details[EndpointURLS.ACTIVE_DIRECTORY_ENDPOINT]).netloc
    return CloudEndpoints(cloud, authority, f"{arm}/.default")


def choose(env: Mapping[str, str]) -> CredentialKind:
    """The credential the environment asks for; the Azure CLI's session when it names none."""
    if env.get("AZURE_CLIENT_SECRET"):
        return CredentialKind.CLIENT_SECRET
    if env.get("AZURE_FEDERATED_TOKEN_FILE"):
        return CredentialKind.WORKLOAD_IDENTITY
    return CredentialKind.AZURE_CLI


def make(kind: CredentialKind, cloud: CloudEndpoints, **settings: Any) -> TokenCredential:
    """The azure-identity credential for `kind`, signing in at the cloud's authority."""
    from azure.identity import AzureCliCredential, EnvironmentCredential, WorkloadIdentityCredential

    if kind is CredentialKind.CLIENT_SECRET:
        return EnvironmentCredential(authority=cloud.authority, **settings)
    if kind is CredentialKind.WORKLOAD_IDENTITY:
        return WorkloadIdentityCredential(authority=cloud.authority, **settings)
    return AzureCliCredential(process_timeout=30)
