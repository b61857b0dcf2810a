"""Which Azure ML model to fetch: in a workspace or in a registry, in which Azure cloud.

A model is named by its coordinates (inputs `model-name`, `model-version` or `model-label`, and
`azure-workspace` with `azure-subscription-id` and `azure-resource-group`, or `model-registry`), or
by its asset URI as Azure ML shows it, given as input `model`:
`azureml://registries/<registry>/models/<name>/versions/<version>` or
`azureml://subscriptions/<id>/resourceGroups/<group>/workspaces/<workspace>/models/<name>/versions/<version>`
(https://learn.microsoft.com/azure/machine-learning/how-to-share-models-pipelines-across-workspaces-with-registries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from scripts import gha

REGISTRY_URI = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)/versions/([^/]+)/?$", re.IGNORECASE)
WORKSPACE_URI = re.compile(
    r"^azureml://subscriptions/([^/]+)/resourcegroups/([^/]+)/workspaces/([^/]+)/models/([^/]+)"
    r"/versions/([^/]+)/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AzureModelRef:
    """Where a registered model lives (a workspace, or a registry) and which version to take."""

    name: str
    version: str = "latest"
    label: str | None = None
    subscription_id: str = ""
    resource_group: str = ""
    workspace: str = ""
    registry: str = ""
    cloud: str = "AzureCloud"

    def where(self) -> str:
        """`registry 'shared'` or `workspace 'ws' (resource group 'rg')`, for messages."""
        if self.registry:
            return f"registry '{self.registry}'"
        return f"workspace '{self.workspace}' (resource group '{self.resource_group}')"

    def asset_uri(self, version: str) -> str:
        """The version's asset URI, as Azure ML spells it."""
        if self.registry:
            return f"azureml://registries/{self.registry}/models/{self.name}/versions/{version}"
        return (
            f"azureml://subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}"
            f"/workspaces/{self.workspace}/models/{self.name}/versions/{version}"
        )


def from_uri(uri: str) -> AzureModelRef:
    """The model an `azureml://` asset URI names; a refusal showing both accepted forms otherwise."""
    registry = REGISTRY_URI.match(uri)
    if registry:
        return AzureModelRef(name=registry[2], version=registry[3], registry=registry[1])
    workspace = WORKSPACE_URI.match(uri)
    if workspace:
        subscription, group, name, model, version = workspace.groups()
        return AzureModelRef(
            name=model, version=version, subscription_id=subscription, resource_group=group, workspace=name
        )
    raise gha.StepError(
        f"{gha.input_name('model')} ({uri!r}) is not an Azure ML model URI; give "
        "azureml://registries/<registry>/models/<name>/versions/<version> or "
        "azureml://subscriptions/<id>/resourceGroups/<group>/workspaces/<workspace>/models/<name>"
        "/versions/<version>, "
        "or leave 'model' empty and give 'model-name'"
    )


def merge_uri(ref: AzureModelRef, uri: str) -> AzureModelRef:
    """`ref` completed by the asset URI in input `model`; a refusal where the two disagree."""
    named = from_uri(uri)
    given = {
        "model-name": (ref.name, named.name),
        "model-version": ("" if ref.version == "latest" else ref.version, named.version),
        "model-registry": (ref.registry, named.registry),
        "azure-workspace": (ref.workspace, named.workspace),
        "azure-resource-group": (ref.resource_group, named.resource_group),
        "azure-subscription-id": (ref.subscription_id, named.subscription_id),
    }
    clashes = [name for name, (input_value, in_uri) in given.items() if input_value and input_value != in_uri]
    if clashes or ref.label:
        inputs = ", ".join(
            gha.input_name(name) for name in [*clashes, *(["model-label"] if ref.label else [])]
        )
        raise gha.StepError(
            f"{gha.input_name('model')} ({uri}) already names the model and its version; leave {inputs} "
            "empty or make "
            "them agree with it"
        )
    return replace(named, cloud=ref.cloud)


def check_cloud(name: str) -> str:
    """The Azure cloud's canonical name; a refusal listing the valid ones (azure-ai-ml's cloud table)."""
    from azure.ai.ml._azure_environments import (
        _environments,
    )  # AzureCloud, AzureChinaCloud, AzureUSGovernment

    clouds = list(_environments)
    for cloud in clouds:
        if cloud.lower() == (name or "AzureCloud").strip().lower():
            return cloud
    raise gha.StepError(f"{gha.input_name('azure-cloud')} must be one of {', '.join(clouds)}, not {name!r}")


def check_ref(ref: AzureModelRef) -> AzureModelRef:
    """Refuse incomplete or contradictory coordinates before any network call; the ref, trimmed."""
    ref = replace(
        ref,
        name=ref.name.strip(),
        version=(ref.version or "latest").strip(),
        subscription_id=ref.subscription_id.strip(),
        resource_group=ref.resource_group.strip(),
        workspace=ref.workspace.strip(),
        registry=ref.registry.strip(),
    )
    if ref.registry and ref.workspace:
        raise gha.StepError(
            f"give either {gha.input_name('azure-workspace')} or {gha.input_name('model-registry')}, not "
            "both: a model is read from one of them"
        )
    needed = [("model-name", ref.name)]
    if not ref.registry:
        needed += [
            ("azure-subscription-id", ref.subscription_id),
            ("azure-resource-group", ref.resource_group),
            ("azure-workspace", ref.workspace),
        ]
    missing = [name for name, value in needed if not value]
    if missing:
        raise gha.StepError(
            f"source 'azureml' needs {', '.join(gha.input_name(name) for name in missing)} (a workspace's "
            "azure-subscription-id, azure-resource-group and azure-workspace, or a model-registry; and the "
            "model's name)"
        )
    if ref.label and ref.version.lower() != "latest":
        raise gha.StepError(
            f"give either {gha.input_name('model-version')} ({ref.version}) or "
            f"{gha.input_name('model-label')} ({ref.label}), not both; "
            "a label picks the version for you"
        )
    return replace(ref, cloud=check_cloud(ref.cloud))
