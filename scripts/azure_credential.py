"""Which Azure credential the fetch signs in with, chosen explicitly rather than by a chain.

`DefaultAzureCredential` tries a managed identity before the Azure CLI: on a self-hosted runner on
an Azure VM it signs in as the VM, not as the identity `azure/login` signed in
(https://learn.microsoft.com/python/api/azure-identity/azure.identity.defaultazurecredential). So:
a service principal's secret (or a workload identity's token file) in the environment selects
`EnvironmentCredential`/`WorkloadIdentityCredential`; otherwise the step uses the Azure CLI session
that `azure/login` left (the OIDC path), with `AzureCliCredential`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class CredentialKind(enum.Enum):
    """The ways the step can sign in."""

    CLIENT_SECRET = "client secret (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET)"
    WORKLOAD_IDENTITY = "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
    AZURE_CLI = "the Azure CLI session (azure/login)"


def choose(env: Mapping[str, str]) -> CredentialKind:
    """The credential the environment asks for; the Azure CLI's session when it names none."""
    if env.get("AZURE_CLIENT_SECRET"):
        return CredentialKind.CLIENT_SECRET
    if env.get("AZURE_FEDERATED_TOKEN_FILE"):
        return CredentialKind.WORKLOAD_IDENTITY
    return CredentialKind.AZURE_CLI


def make(kind: CredentialKind, **settings: Any) -> TokenCredential:
    """The azure-identity credential for `kind`."""
    from azure.identity import AzureCliCredential, EnvironmentCredential, WorkloadIdentityCredential

    if kind is CredentialKind.CLIENT_SECRET:
        return EnvironmentCredential(**settings)
    if kind is CredentialKind.WORKLOAD_IDENTITY:
        return WorkloadIdentityCredential(**settings)
    return AzureCliCredential(process_timeout=30)
