"""Azure ML registries and sovereign clouds, end to end: the real azure-ai-ml discovers the registry,
reads its model from the registry data plane and its files with the SAS (or the identity) the
registry grants; in another cloud every host, authority and token scope is that cloud's."""

from __future__ import annotations

import os
from pathlib import Path

from tests.mlflow_models import WEIGHTS_FILE, mlflow_onnx_files

from .harness import AzureStandIn, read_json, run_fetch
from .standin import STORAGE_ACCOUNT, STORAGE_TOKEN
from .standin_auth import CLOUDS, token_for
from .standin_registry import (
    API_VERSION,
    FAULT_REGISTRY_FORBIDDEN,
    MFE_PREFIX,
    NO_CREDENTIALS,
    REGISTRY_HOST,
    REGISTRY_RESOURCE_GROUP,
    REGISTRY_SUBSCRIPTION,
    Registry,
    add_registry,
)
from .test_azureml_downloads import fake_az
from .test_azureml_fetch import only_error, sha256

PUBLIC = CLOUDS["AzureCloud"]
LINEAR_4 = ("--model-name", "linear", "--model-version", "4")
REGISTRY_URI = "azureml://registries/shared-models/models/linear/versions/2"
REGISTRY_PATH = (
    f"{MFE_PREFIX}/subscriptions/{REGISTRY_SUBSCRIPTION}/resourceGroups/{REGISTRY_RESOURCE_GROUP}"
    "/providers/Microsoft.MachineLearningServices/registries/shared-models"
)


def shared_registry(standin: AzureStandIn, credential: str = "SAS") -> tuple[Registry, dict[str, bytes]]:
    """A registry 'shared-models' holding an MLflow ONNX model with external data, versions 1 and 2."""
    registry = add_registry(standin.azure, "shared-models", credential)
    registry.register(
        "linear", "1", mlflow_onnx_files(scale=1.0), folder="model", created="2026-01-01T00:00:00Z"
    )
    files = mlflow_onnx_files(scale=2.0)
    registry.register("linear", "2", files, folder="model", created="2026-02-01T00:00:00Z")
    return registry, files


def registry_calls(standin: AzureStandIn) -> list[str]:
    """`METHOD path` of every registry data-plane call, below the registry's id."""
    return [
        f"{r.method} {r.path.removeprefix(REGISTRY_PATH)}"
        for r in standin.azure.requests(host=REGISTRY_HOST)
        if r.method != "CONNECT"
    ]


def test_a_registry_model_by_its_uri(standin: AzureStandIn, tmp_path: Path) -> None:
    registry, files = shared_registry(standin)

    run = run_fetch(standin, tmp_path, "--model", REGISTRY_URI, scope=())

    assert run.returncode == 0, run.log
    dest = tmp_path / "model"
    assert (dest / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    assert (dest / "model.onnx").read_bytes() == files["model.onnx"]
    record = read_json(dest / "provenance.json")
    assert isinstance(record, dict)
    assert (record["registry"], record["uri"], record["asset_id"]) == (
        "shared-models",
        REGISTRY_URI,
        REGISTRY_URI,
    )
    assert "workspace" not in record
    assert run.outputs["model-version"] == "2"
    # The SDK asked where the registry lives, then read the version and asked where its files are.
    discovery = [r for r in standin.azure.requests(host=PUBLIC.registry_discovery_host) if r.method == "GET"]
    assert [r.path for r in discovery] == ["/registrymanagement/v1.0/registries/shared-models/discovery"]
    assert registry_calls(standin) == ["GET /models/linear/versions/2", "POST /datarefs/linear/versions/2"]
    assert all(
        r.query.get("api-version") == API_VERSION
        for r in standin.azure.requests(host=REGISTRY_HOST)
        if r.method != "CONNECT"
    )
    assert not [r for r in standin.azure.requests(host=PUBLIC.arm_host) if r.method != "CONNECT"]
    # The files come from the registry's own storage, with the SAS datarefs handed out.
    reads = [
        r
        for r in standin.azure.requests(host=registry.account.name + PUBLIC.blob_suffix)
        if r.method != "CONNECT"
    ]
    assert reads
    assert all(r.query.get("sig") and not r.authorization for r in reads)
    assert f"::add-mask::{registry.account.sas()}" in run.stdout


def test_a_registry_model_by_name_takes_the_latest_and_reads_with_the_identity(
    standin: AzureStandIn, tmp_path: Path
) -> None:
    registry, files = shared_registry(standin, NO_CREDENTIALS)

    run = run_fetch(
        standin, tmp_path, "--model-registry", "shared-models", "--model-name", "linear", scope=()
    )

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    assert run.outputs["model-version"] == "2"
    assert registry_calls(standin)[0] == "GET /models/linear/versions"
    reads = [
        r
        for r in standin.azure.requests(host=registry.account.name + PUBLIC.blob_suffix)
        if r.method != "CONNECT"
    ]
    assert {r.authorization for r in reads} == {f"Bearer {STORAGE_TOKEN}"}


def test_an_unknown_registry_is_named(standin: AzureStandIn, tmp_path: Path) -> None:
    shared_registry(standin)

    message = only_error(
        run_fetch(standin, tmp_path, "--model-registry", "shared-modles", "--model-name", "linear", scope=())
    )

    assert "registry 'shared-modles' was not found in cloud AzureCloud; check --model-registry" in message


def test_a_registry_refusal_names_the_registry_role(standin: AzureStandIn, tmp_path: Path) -> None:
    shared_registry(standin)
    standin.azure.faults.add(FAULT_REGISTRY_FORBIDDEN)

    message = only_error(run_fetch(standin, tmp_path, "--model", REGISTRY_URI, scope=()))

    assert message.startswith("reading model 'linear' was refused (403) on registry 'shared-models': ")
    assert "give the signed-in identity the 'AzureML Registry User' role on the registry" in message


def test_a_registry_and_a_workspace_together_are_refused(standin: AzureStandIn, tmp_path: Path) -> None:
    message = only_error(
        run_fetch(standin, tmp_path, "--model-registry", "shared-models", "--model-name", "linear")
    )

    assert (
        message
        == "give either --azure-workspace or --model-registry, not both: a model is read from one of them"
    )
    assert not standin.azure.requests()


def test_a_workspace_model_in_the_china_cloud(standin: AzureStandIn, tmp_path: Path) -> None:
    china = CLOUDS["AzureChinaCloud"]
    standin.azure.cloud_name = "AzureChinaCloud"
    files = mlflow_onnx_files()
    standin.azure.register("linear", "4", files, folder="model")

    run = run_fetch(
        standin,
        tmp_path,
        *LINEAR_4,
        "--azure-cloud",
        "AzureChinaCloud",
    )

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    connected = {r.host for r in standin.azure.requests(method="CONNECT")}
    assert connected == {china.login_host, china.arm_host, STORAGE_ACCOUNT + china.blob_suffix}
    # Signed in at the China authority, for the China ARM scope; Azure ML was called with that token.
    token_requests = [r for r in standin.azure.requests(host=china.login_host, method="POST")]
    # (the stand-in's token endpoint answers only the cloud's own ARM and storage scopes)
    assert [r.path for r in token_requests] == [f"/{standin.azure.tenant_id}/oauth2/v2.0/token"]
    arm = [r for r in standin.azure.requests(host=china.arm_host) if r.method != "CONNECT"]
    assert {r.authorization for r in arm} == {f"Bearer {token_for(china.arm_audience)}"}
    assert sha256(files["model.onnx"]) == run.outputs["sha256"]


def test_the_azure_cli_is_asked_for_the_chosen_clouds_arm_token(
    standin: AzureStandIn, tmp_path: Path
) -> None:
    gov = CLOUDS["AzureUSGovernment"]
    standin.azure.cloud_name = "AzureUSGovernment"
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    az = fake_az(tmp_path / "az-bin", gov.arm_audience)
    changes: dict[str, str | None] = {
        "AZURE_CLIENT_SECRET": None,
        "AZURE_CLIENT_ID": None,
        "AZURE_TENANT_ID": None,
        "PATH": f"{az}{os.pathsep}{os.environ['PATH']}",
    }

    run = run_fetch(standin, tmp_path, *LINEAR_4, "--azure-cloud", "AzureUSGovernment", env_changes=changes)

    assert run.returncode == 0, run.log
    calls = (az / "calls").read_text().splitlines()
    assert any(f"--resource {gov.arm_audience}" in call for call in calls)
    assert not any("management.azure.com" in call for call in calls)
    assert {r.host for r in standin.azure.requests(method="CONNECT")} == {
        gov.arm_host,
        STORAGE_ACCOUNT + gov.blob_suffix,
    }


def test_the_public_cloud_is_not_asked_when_another_is_chosen(standin: AzureStandIn, tmp_path: Path) -> None:
    # The stand-in plays AzureCloud.
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")

    message = only_error(
        run_fetch(
            standin,
            tmp_path,
            *LINEAR_4,
            "--azure-cloud",
            "AzureUSGovernment",
        )
    )

    assert "signing in to Azure (AzureUSGovernment) failed" in message
    assert {r.host for r in standin.azure.requests(method="CONNECT")} == {
        CLOUDS["AzureUSGovernment"].login_host
    }


def test_an_unknown_cloud_is_refused_listing_the_clouds(standin: AzureStandIn, tmp_path: Path) -> None:
    message = only_error(
        run_fetch(standin, tmp_path, "--model-name", "linear", "--azure-cloud", "AzureStackHub")
    )

    assert message == (
        "--azure-cloud must be one of AzureCloud, AzureChinaCloud, AzureUSGovernment, not 'AzureStackHub'"
    )
    assert not standin.azure.requests()
