"""How the fetch proves itself to storage: the datastore's account key (Shared Key, verified), its SAS,
or the signed-in identity's storage token. Real SDKs against the stand-in, which checks each."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.mlflow_models import WEIGHTS_FILE, mlflow_onnx_files

from .harness import AzureStandIn, StepRun, run_fetch
from .standin import (
    ACCESS_TOKEN,
    BLOB_SUFFIX,
    IDENTITY_DATASTORE,
    KEY_DATASTORE,
    LOGIN_HOST,
    SAS_DATASTORE,
    STORAGE_ACCOUNT,
    STORAGE_TOKEN,
    LoggedRequest,
)
from .test_azureml_fetch import arm_calls, only_error

BLOB_HOST = STORAGE_ACCOUNT + BLOB_SUFFIX
SECRETS_CALL = "POST /datastores/workspaceblobstore/listSecrets"


def blob_requests(standin: AzureStandIn) -> list[LoggedRequest]:
    """Every request to the workspace's storage account but the CONNECTs."""
    return [r for r in standin.azure.requests(host=BLOB_HOST) if r.method != "CONNECT"]


def fetched_with(standin: AzureStandIn, tmp_path: Path, datastore_auth: str) -> StepRun:
    """Fetch an MLflow model with external data from a datastore of `datastore_auth`; check the files."""
    files = mlflow_onnx_files()
    standin.azure.register("linear", "4", files, folder="model")
    standin.azure.datastore_auth = datastore_auth
    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4")
    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    return run


def test_account_key_datastore_signs_each_request_with_shared_key(
    standin: AzureStandIn, tmp_path: Path
) -> None:
    fetched_with(standin, tmp_path, KEY_DATASTORE)

    assert SECRETS_CALL in arm_calls(standin)
    assert {r.authorization.split(":")[0] for r in blob_requests(standin)} == {f"SharedKey {STORAGE_ACCOUNT}"}


def test_a_rotated_account_key_is_refused_by_its_signature(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    standin.azure.account.key = (
        "cm90YXRlZC1rZXktbm90LXRoZS1vbmUtaGFuZGVkLW91dA=="  # listSecrets hands out the old
    )

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4"))

    assert "did not accept the datastore's key or SAS (AuthenticationFailed)" in message
    assert "update the datastore's credentials in Azure ML" in message


def test_sas_datastore_reads_with_the_sas_from_list_secrets(standin: AzureStandIn, tmp_path: Path) -> None:
    run = fetched_with(standin, tmp_path, SAS_DATASTORE)

    assert SECRETS_CALL in arm_calls(standin)
    requests = blob_requests(standin)
    assert requests
    assert all(r.query.get("sig") and r.query.get("sp") == "rl" and not r.authorization for r in requests)
    sas_signature = standin.azure.account.sas().split("sig=")[1]
    assert f"::add-mask::{standin.azure.account.sas()}" in run.stdout
    assert not [line for line in run.log.splitlines() if sas_signature in line and "add-mask" not in line]


def test_identity_datastore_reads_with_a_storage_token(standin: AzureStandIn, tmp_path: Path) -> None:
    fetched_with(standin, tmp_path, IDENTITY_DATASTORE)

    assert SECRETS_CALL not in arm_calls(standin)  # a credential-less datastore has no secrets to list
    assert {r.authorization for r in blob_requests(standin)} == {f"Bearer {STORAGE_TOKEN}"}
    sign_ins = standin.azure.requests(host=LOGIN_HOST, method="POST")
    assert len(sign_ins) == 2  # one token for ARM, one for storage
    assert STORAGE_TOKEN != ACCESS_TOKEN


def test_identity_datastore_refuses_an_arm_token(standin: AzureStandIn, tmp_path: Path) -> None:
    """The stand-in's storage really checks the audience: a token for ARM is not a token for storage."""
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    proxies = {"https": standin.server.proxy_url}
    url = f"https://{BLOB_HOST}/{standin.azure.account.container}?restype=container&comp=list"

    for authorization, expected in (
        (f"Bearer {ACCESS_TOKEN}", (401, "InvalidAuthenticationInfo")),
        ("", (401, "NoAuthenticationInformation")),
        (f"Bearer {STORAGE_TOKEN}", (200, None)),
    ):
        headers = {"Authorization": authorization, "x-ms-version": "2025-01-05"} if authorization else {}
        answer = requests.get(
            url, headers=headers, proxies=proxies, verify=str(standin.ca_bundle), timeout=10
        )
        assert (answer.status_code, answer.headers.get("x-ms-error-code")) == expected
