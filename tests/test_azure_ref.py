"""Which Azure ML model a fetch names: coordinates, asset URIs, the cloud, and their refusals."""

from __future__ import annotations

import dataclasses

import pytest

from scripts import azure_ref, gha
from scripts.azure_ref import AzureModelRef

# check_cloud reads azure-ai-ml's cloud table; importing azure-ai-ml warns about its use of marshmallow.
pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")
WORKSPACE = {"subscription_id": "sub", "resource_group": "rg", "workspace": "ws"}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param(
            AzureModelRef(name="", subscription_id="sub", resource_group="rg", workspace=" "),
            "needs --model-name, --azure-workspace",
            id="missing",
        ),
        pytest.param(
            AzureModelRef(name="m", version="3", label="latest", **WORKSPACE),
            "either --model-version (3) or --model-label",
            id="version-and-label",
        ),
        pytest.param(
            AzureModelRef(name="m", registry="shared", **WORKSPACE),
            "give either --azure-workspace or --model-registry, not both",
            id="workspace-and-registry",
        ),
        pytest.param(
            AzureModelRef(name="m", registry="shared", cloud="AzureGermanCloud"),
            "--azure-cloud must be one of AzureCloud, AzureChinaCloud, AzureUSGovernment, "
            "not 'AzureGermanCloud'",
            id="unknown-cloud",
        ),
    ],
)
def test_check_ref_refuses_before_any_call(ref: AzureModelRef, expected: str) -> None:
    with pytest.raises(gha.StepError) as refusal:
        azure_ref.check_ref(ref)
    assert expected in str(refusal.value)


def test_check_ref_accepts_a_registry_alone_and_spells_the_cloud() -> None:
    ref = azure_ref.check_ref(AzureModelRef(name=" m ", registry="shared", cloud="azurechinacloud"))
    assert (ref.name, ref.registry, ref.cloud, ref.where()) == (
        "m",
        "shared",
        "AzureChinaCloud",
        "registry 'shared'",
    )


def test_check_ref_accepts_a_label_with_the_default_version() -> None:
    assert azure_ref.check_ref(AzureModelRef(name="m", label="latest", **WORKSPACE)).label == "latest"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param(
            "azureml://registries/shared/models/housing/versions/3",
            AzureModelRef(name="housing", version="3", registry="shared"),
            id="registry",
        ),
        pytest.param(
            "azureml://subscriptions/sub/resourceGroups/rg/workspaces/ws/models/housing/versions/3",
            AzureModelRef(name="housing", version="3", **WORKSPACE),
            id="workspace",
        ),
    ],
)
def test_asset_uris_name_the_model_and_round_trip(uri: str, expected: AzureModelRef) -> None:
    ref = azure_ref.from_uri(uri)
    assert ref == expected
    assert ref.asset_uri("3").lower() == uri.lower()


def test_a_uri_that_is_not_a_model_is_refused_showing_the_forms() -> None:
    with pytest.raises(gha.StepError, match="is not an Azure ML model URI; give azureml://registries/"):
        azure_ref.from_uri("azureml://registries/shared/data/housing/versions/3")


def test_merge_uri_keeps_the_cloud_and_refuses_a_disagreeing_input() -> None:
    uri = "azureml://registries/shared/models/housing/versions/3"
    merged = azure_ref.merge_uri(AzureModelRef(name="", cloud="AzureUSGovernment"), uri)
    assert merged == dataclasses.replace(azure_ref.from_uri(uri), cloud="AzureUSGovernment")
    with pytest.raises(gha.StepError, match="leave --model-version empty or make them agree"):
        azure_ref.merge_uri(AzureModelRef(name="", version="4"), uri)
