"""The fetch step's Azure ML source, end to end: real azure-ai-ml, azure-identity and storage code.

Each case runs `python -m scripts.fetch --source azureml` in a subprocess whose only way out is
the stand-in (HTTPS_PROXY); nothing in Python is mocked. The pure helpers are tested in-process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from scripts import azureml, gha, onnx_files

from .harness import (
    CLIENT_SECRET,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    AzureStandIn,
    StepRun,
    read_json,
    run_fetch,
)
from .standin import (
    ACCESS_TOKEN,
    ARM_HOST,
    BLOB_SUFFIX,
    FAULT_ARM_UNREACHABLE,
    FAULT_BLOB_FORBIDDEN,
    FAULT_FORBIDDEN,
    LOGIN_HOST,
    STORAGE_ACCOUNT,
)
from .standin_login import FAULT_SIGN_IN

BLOB_HOST = STORAGE_ACCOUNT + BLOB_SUFFIX
ARM_PREFIX = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
)
# A failure that will not heal must end well within this (azure-core's defaults take far longer).
FAST_FAILURE_SECONDS = 15


def onnx_model(factor: float) -> bytes:
    """A tiny valid ONNX model (y = x * factor); the factor makes each version's bytes differ."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "factor"], ["y"])],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("factor", TensorProto.FLOAT, [1], [factor])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def sha256(data: bytes) -> str:
    """Hex sha256."""
    return hashlib.sha256(data).hexdigest()


def only_error(run: StepRun) -> str:
    """The step failed with exactly one error annotation; return it."""
    assert run.returncode == 1, run.log
    assert len(run.errors) == 1, run.log
    assert "Traceback" not in run.log
    return run.errors[0]


def arm_calls(standin: AzureStandIn) -> list[str]:
    """`METHOD path?query` of every Azure ML call, the workspace prefix cut off."""
    calls = []
    for request in standin.azure.requests(host=ARM_HOST):
        if request.method == "CONNECT":
            continue
        query = "&".join(
            f"{key}={value}" for key, value in sorted(request.query.items()) if key != "api-version"
        )
        calls.append(
            f"{request.method} {request.path.removeprefix(ARM_PREFIX)}" + (f"?{query}" if query else "")
        )
    return calls


def assert_secrets_masked(run: StepRun) -> None:
    """The access token and the client secret are masked, and appear nowhere else."""
    assert f"::add-mask::{ACCESS_TOKEN}" in run.stdout
    assert f"::add-mask::{CLIENT_SECRET}" in run.stdout
    unmasked = [line for line in run.log.splitlines() if not line.startswith("::add-mask::")]
    assert not [line for line in unmasked if ACCESS_TOKEN in line or CLIENT_SECRET in line]


# --- success -------------------------------------------------------------------------------------


def test_single_file_model_by_version(standin: AzureStandIn, tmp_path: Path) -> None:
    wanted = onnx_model(2.0)
    standin.azure.register(
        "housing", "1", {"housing.onnx": wanted}, created="2026-01-05T10:00:00Z", tags={"stage": "prod"}
    )
    standin.azure.register("housing", "2", {"model.onnx": onnx_model(3.0)}, created="2026-02-01T00:00:00Z")

    run = run_fetch(
        standin,
        tmp_path,
        "--model-name",
        "housing",
        "--model-version",
        "1",
        "--expected-sha256",
        sha256(wanted),
    )

    assert run.returncode == 0, run.log
    dest = tmp_path / "model"
    assert (dest / "model.onnx").read_bytes() == wanted
    assert sorted(path.name for path in dest.iterdir()) == ["model.onnx", "provenance.json"]
    assert run.outputs["sha256"] == sha256(wanted)
    assert (run.outputs["model-name"], run.outputs["model-version"]) == ("housing", "1")
    record = read_json(dest / "provenance.json")
    assert isinstance(record, dict)
    assert {key: value for key, value in record.items() if key not in {"fetched_at", "uri"}} == {
        "source": "azureml",
        "name": "housing",
        "version": "1",
        "sha256": sha256(wanted),
        "workspace": WORKSPACE,
        "resource_group": RESOURCE_GROUP,
        "subscription_id": SUBSCRIPTION,
        "asset_id": f"{ARM_PREFIX}/models/housing/versions/1",
        "created": "2026-01-05T10:00:00Z",
        "tags": {"stage": "prod"},
        "files": {"model.onnx": sha256(wanted)},
        "folder_sha256": sha256(f"{sha256(wanted)}  model.onnx\n".encode()),
    }
    # One sign-in; the version read directly (no listing); the datastore key fetched; one blob read.
    assert len(standin.azure.requests(host=LOGIN_HOST, method="POST")) == 1
    calls = arm_calls(standin)
    assert set(calls) == {
        "GET /models/housing/versions/1",
        "GET /datastores/workspaceblobstore",
        "POST /datastores/workspaceblobstore/listSecrets",
    }
    arm_requests = [r for r in standin.azure.requests(host=ARM_HOST) if r.method != "CONNECT"]
    assert all(r.authorization == f"Bearer {ACCESS_TOKEN}" for r in arm_requests)
    blob_reads = [r.path for r in standin.azure.requests(host=BLOB_HOST, method="GET") if not r.query]
    assert len(blob_reads) == 1
    assert blob_reads[0].endswith("/housing.onnx")
    assert {r.host for r in standin.azure.requests(method="CONNECT")} == {LOGIN_HOST, ARM_HOST, BLOB_HOST}
    assert_secrets_masked(run)


def test_the_workspace_s_old_input_names_still_fetch_and_warn(standin: AzureStandIn, tmp_path: Path) -> None:
    wanted = onnx_model(2.0)
    standin.azure.register("housing", "1", {"housing.onnx": wanted}, created="2026-01-05T10:00:00Z")
    old_scope = (
        "--subscription-id",
        SUBSCRIPTION,
        "--resource-group",
        RESOURCE_GROUP,
        "--workspace",
        WORKSPACE,
    )

    run = run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1", scope=old_scope)

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / "model.onnx").read_bytes() == wanted
    record = read_json(tmp_path / "model" / "provenance.json")
    assert isinstance(record, dict)
    assert (record["subscription_id"], record["resource_group"], record["workspace"]) == (
        SUBSCRIPTION,
        RESOURCE_GROUP,
        WORKSPACE,
    )
    warnings = [line for line in run.log.splitlines() if line.startswith("::warning::")]
    assert warnings == [
        f"::warning::input '{old}' is deprecated and will be removed; use 'azure-{old}' instead"
        for old in ("subscription-id", "resource-group", "workspace")
    ]


def test_folder_model_takes_the_onnx_inside_and_its_sidecars(standin: AzureStandIn, tmp_path: Path) -> None:
    wanted = onnx_model(4.0)
    config = b'{"name": "housing", "outputs": {"price": {"output": "y"}}}'
    standin.azure.register(
        "housing",
        "3",
        {"model.onnx": wanted, "modelship.json": config, "README.md": b"# notes\n", "extra/data.bin": b"\0"},
        folder="housing-export",
    )

    run = run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "3")

    assert run.returncode == 0, run.log
    dest = tmp_path / "model"
    assert (dest / "model.onnx").read_bytes() == wanted
    assert (dest / "modelship.json").read_bytes() == config
    assert run.outputs["sha256"] == sha256(wanted)
    assert not (dest / "README.md").exists()
    blob_reads = sorted(
        r.path.rsplit("/", 1)[-1] for r in standin.azure.requests(host=BLOB_HOST, method="GET")
    )
    # Only what the image needs is read: the asset's other files stay in the datastore.
    assert {"model.onnx", "modelship.json"} <= set(blob_reads)
    assert not {"README.md", "data.bin"} & set(blob_reads)


@pytest.mark.parametrize(
    "choice",
    [
        pytest.param(("--model-version", "latest"), id="version-latest"),
        pytest.param(("--model-label", "latest"), id="label-latest"),
    ],
)
def test_latest_is_the_most_recently_created_version(
    standin: AzureStandIn, tmp_path: Path, choice: tuple[str, str]
) -> None:
    newest = onnx_model(10.0)
    standin.azure.register("churn", "1", {"model.onnx": onnx_model(1.0)}, created="2026-01-01T00:00:00Z")
    standin.azure.register("churn", "10", {"model.onnx": onnx_model(9.0)}, created="2026-02-01T00:00:00Z")
    standin.azure.register("churn", "2", {"model.onnx": newest}, created="2026-03-01T00:00:00Z")

    run = run_fetch(standin, tmp_path, "--model-name", "churn", *choice)

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / "model.onnx").read_bytes() == newest
    assert run.outputs["model-version"] == "2"
    calls = arm_calls(standin)
    assert calls[0] == "GET /models/churn/versions?$orderBy=createdtime desc&$top=1"


def test_several_onnx_files_need_a_choice(standin: AzureStandIn, tmp_path: Path) -> None:
    chosen = onnx_model(5.0)
    standin.azure.register("ensemble", "1", {"a.onnx": onnx_model(1.0), "b.onnx": chosen}, folder="export")

    undecided = run_fetch(standin, tmp_path, "--model-name", "ensemble", "--model-version", "1")
    message = only_error(undecided)
    assert "several ONNX files (a.onnx, b.onnx)" in message
    assert "onnx-file" in message

    decided = run_fetch(
        standin, tmp_path, "--model-name", "ensemble", "--model-version", "1", "--onnx-file", "b.onnx"
    )
    assert decided.returncode == 0, decided.log
    assert decided.outputs["sha256"] == sha256(chosen)


# --- what does not exist -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "version", "expected"),
    [
        pytest.param(
            "housng",
            "1",
            f"model 'housng' is not registered in workspace '{WORKSPACE}' (resource group "
            f"'{RESOURCE_GROUP}'); the workspace has: churn, housing",
            id="unknown-name",
        ),
        pytest.param(
            "Housing",
            "latest",
            "did you mean 'housing'? names are case-sensitive; the workspace has: churn, housing",
            id="wrong-case-latest",
        ),
    ],
)
def test_unknown_model_lists_the_models_that_exist(
    standin: AzureStandIn, tmp_path: Path, asked: str, version: str, expected: str
) -> None:
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})
    standin.azure.register("churn", "4", {"model.onnx": onnx_model(1.0)})

    message = only_error(run_fetch(standin, tmp_path, "--model-name", asked, "--model-version", version))

    assert expected in message
    assert "GET /models?listViewType=All" in arm_calls(standin)
    assert not standin.azure.requests(host=BLOB_HOST)


def test_unknown_version_names_the_versions_and_the_latest(standin: AzureStandIn, tmp_path: Path) -> None:
    for version, month in (("1", 1), ("3", 2), ("2", 3)):
        standin.azure.register(
            "housing", version, {"model.onnx": onnx_model(1.0)}, created=f"2026-0{month}-01T00:00:00Z"
        )

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "7"))

    assert message == (
        f"model 'housing' has no version 7 in workspace '{WORKSPACE}' (resource group '{RESOURCE_GROUP}'); "
        "it has versions 1, 2 and 3 "
        "(the latest is 2); set --model-version to one of them or to 'latest'"
    )
    assert arm_calls(standin)[:2] == [
        "GET /models/housing/versions/7",
        "GET /models/housing/versions?listViewType=ActiveOnly",
    ]


def test_model_without_active_versions(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("retired", "1", {"model.onnx": onnx_model(1.0)}, archived=True)
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "retired"))

    assert "model 'retired'" in message
    assert "has no active versions" in message
    assert "register a version or restore an archived one" in message


def test_unknown_workspace(standin: AzureStandIn, tmp_path: Path) -> None:
    typo = ("--model-name", "housing", "--model-version", "1", "--azure-workspace", "ws-typo")
    message = only_error(run_fetch(standin, tmp_path, *typo))

    assert message.startswith(
        f"workspace 'ws-typo' was not found in resource group '{RESOURCE_GROUP}' "
        f"of subscription '{SUBSCRIPTION}'; check --azure-workspace, --azure-resource-group and "
        "--azure-subscription-id (Azure said: (ResourceNotFound) "
    )


def test_empty_download_is_an_error(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("housing", "1", {}, folder="gone")

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1"))

    assert message.startswith("model 'housing' version 1: the model's datastore path LocalUpload/")
    assert "holds no files: it is empty or was deleted; re-register the model" in message
    assert [r for r in standin.azure.requests(host=BLOB_HOST, method="GET") if r.query.get("comp") == "list"]
    assert not (tmp_path / "model" / "model.onnx").exists()


def test_unknown_label(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})

    message = only_error(
        run_fetch(standin, tmp_path, "--model-name", "housing", "--model-label", "production")
    )

    assert "no label 'production' for model 'housing'" in message
    assert "give --model-version instead" in message


# --- sign-in, permissions, network -----------------------------------------------------------------


def test_sign_in_failure_says_which_variables_to_check(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})
    standin.azure.faults.add(FAULT_SIGN_IN)

    run = run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1")
    message = only_error(run)

    assert message.startswith("sign-in to Azure failed (AADSTS7000215): Authentication failed: AADSTS7000215")
    assert message.endswith(
        "(the step signed in with client secret (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET))"
    )
    assert (
        "Variables set: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET; "
        "not set: AZURE_FEDERATED_TOKEN_FILE"
    ) in message
    assert "azure/login" in message
    assert "id-token: write" in message
    assert not standin.azure.requests(host=ARM_HOST)
    assert f"::add-mask::{CLIENT_SECRET}" in run.stdout
    assert CLIENT_SECRET not in message


def test_permission_denied_names_the_role(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})
    standin.azure.faults.add(FAULT_FORBIDDEN)

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1"))

    assert message.startswith(f"reading model 'housing' was refused (403) on workspace '{WORKSPACE}'")
    assert "'Microsoft.MachineLearningServices/workspaces/models/versions/read'" in message
    assert "'AzureML Data Scientist' role" in message
    assert arm_calls(standin) == ["GET /models/housing/versions/1"]  # 403 is not retried
    assert not standin.azure.requests(host=BLOB_HOST)


def test_storage_refusal_names_the_storage_role(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})
    standin.azure.faults.add(FAULT_BLOB_FORBIDDEN)

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1"))

    assert message.startswith("downloading model 'housing' version 1 failed: the signed-in identity may not")
    assert "AuthorizationPermissionMismatch" in message
    assert "'Storage Blob Data Reader' on the storage account" in message


def test_proxy_down_fails_fast(standin: AzureStandIn, tmp_path: Path, closed_port: int) -> None:
    proxy = f"http://127.0.0.1:{closed_port}"

    run = run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1", proxy=proxy)
    message = only_error(run)

    assert message.startswith(
        f"signing in to Azure (AzureCloud) failed: cannot reach Azure through the proxy {proxy}"
    )
    assert "management.azure.com" in message
    assert run.seconds < FAST_FAILURE_SECONDS


def test_azure_ml_unreachable_fails_fast(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("housing", "1", {"model.onnx": onnx_model(1.0)})
    standin.azure.faults.add(FAULT_ARM_UNREACHABLE)

    run = run_fetch(standin, tmp_path, "--model-name", "housing", "--model-version", "1")
    message = only_error(run)

    assert message.startswith("reading model 'housing' failed: cannot reach Azure through the proxy")
    assert run.seconds < FAST_FAILURE_SECONDS
    # azure-core would try 4 times with growing back-off; the step caps it.
    attempts = standin.azure.requests(host=ARM_HOST, method="CONNECT")
    assert 1 <= len(attempts) <= 2


# --- pure helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "choice", "expected"),
    [
        pytest.param(["m/model.onnx", "m/modelship.json"], None, "m/model.onnx", id="one-onnx"),
        pytest.param(["m/a.onnx", "m/sub/b.onnx"], "b.onnx", "m/sub/b.onnx", id="chosen-by-name"),
        pytest.param(["m/a.onnx", "m/sub/a.onnx"], "sub/a.onnx", "m/sub/a.onnx", id="chosen-by-path"),
    ],
)
def test_choose_onnx(files: list[str], choice: str | None, expected: str) -> None:
    assert onnx_files.choose_onnx(files, choice) == expected


@pytest.mark.parametrize(
    ("files", "choice", "expected"),
    [
        pytest.param(["m/notes.txt"], None, "has no .onnx file; its files are: m/notes.txt", id="none"),
        pytest.param(["m/a.onnx", "m/sub/a.onnx"], "a.onnx", "matches several files", id="ambiguous-choice"),
        pytest.param(
            ["m/a.onnx"], "b.onnx", "has no file 'b.onnx'; its files are: m/a.onnx", id="missing-choice"
        ),
    ],
)
def test_choose_onnx_refuses(files: list[str], choice: str | None, expected: str) -> None:
    with pytest.raises(gha.StepError, match=expected):
        onnx_files.choose_onnx(files, choice)


def test_latest_is_by_creation_time_not_by_number() -> None:
    versions = [
        azureml.VersionInfo("10", "2026-01-01T00:00:00Z"),
        azureml.VersionInfo("9", "2026-03-01T00:00:00Z"),
        azureml.VersionInfo("v2", "2026-02-01T00:00:00Z"),
    ]
    assert azureml.describe_versions(versions) == "9, 10 and v2 (the latest is 9)"
