"""Azure ML downloads as users have them: MLflow ONNX models with external data, throttling, storage
refusals, a large model's memory, and the Azure CLI's identity. Real SDKs against the stand-in."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from scripts import download_limits
from serving.model import load_model
from tests.mlflow_models import WEIGHTS_FILE, mlflow_onnx_files, mlflow_sklearn_files

from .harness import AzureStandIn, run_fetch
from .standin import ACCESS_TOKEN, ARM_HOST, BLOB_SUFFIX, LOGIN_HOST, STORAGE_ACCOUNT
from .standin_auth import CLOUDS, STORAGE_AUDIENCE, token_for
from .test_azureml_fetch import only_error, sha256

BLOB_HOST = STORAGE_ACCOUNT + BLOB_SUFFIX
LARGE_MODEL_BYTES = 600 * 1024 * 1024
RSS_LIMIT_MB = 200
ARM_AUDIENCE = CLOUDS["AzureCloud"].arm_audience


def blob_reads(standin: AzureStandIn) -> list[str]:
    """The file names of every blob read (GET without a listing), in order."""
    return [
        r.path.rsplit("/", 1)[-1]
        for r in standin.azure.requests(host=BLOB_HOST, method="GET")
        if r.query.get("comp") != "list"
    ]


def test_mlflow_onnx_model_with_external_data(standin: AzureStandIn, tmp_path: Path) -> None:
    files = mlflow_onnx_files(scale=1.0)
    standin.azure.register("linear", "4", files, folder="model")

    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4")

    assert run.returncode == 0, run.log
    dest = tmp_path / "model"
    assert (dest / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    assert run.outputs["sha256"] == sha256(files["model.onnx"])
    assert load_model(dest).predict([[1.0, 2.0, 3.0, 4.0]]) == {"prediction": [[5.0, 15.0, 25.0, 35.0]]}
    assert json.loads((dest / "samples.json").read_text())[0]["response"]["prediction"] == [
        [5.0, 15.0, 25.0, 35.0]
    ]
    # MLmodel first, then the model, its weights and the sidecars; MLflow's environment files stay.
    assert blob_reads(standin) == ["MLmodel", "model.onnx", WEIGHTS_FILE, "modelship.json", "samples.json"]
    summary = (tmp_path / "step-summary.md").read_text()
    assert f"| external data | `{WEIGHTS_FILE}` |" in summary
    assert "| download | " in summary
    assert " MB/s) |" in summary


def test_non_onnx_flavor_is_refused_before_the_weights_are_read(
    standin: AzureStandIn, tmp_path: Path
) -> None:
    standin.azure.register("churn", "1", mlflow_sklearn_files(), folder="model")

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "churn", "--model-version", "1"))

    assert "is an MLflow model of flavor sklearn, not ONNX" in message
    assert "mlflow.onnx.log_model" in message
    assert blob_reads(standin) == ["MLmodel"]


def test_weights_missing_from_the_asset_are_named(standin: AzureStandIn, tmp_path: Path) -> None:
    files = mlflow_onnx_files()
    del files[WEIGHTS_FILE]
    standin.azure.register("linear", "4", files, folder="model")

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4"))

    assert f"keeps weights in {WEIGHTS_FILE}, which the registered asset lacks" in message


def test_throttled_reads_wait_as_retry_after_says(standin: AzureStandIn, tmp_path: Path) -> None:
    files = mlflow_onnx_files()
    standin.azure.register("linear", "4", files, folder="model")
    standin.azure.blob_failures += [
        (503, "ServerBusy", {"Retry-After": "1"}),
        (429, "ServerBusy", {"Retry-After": "2"}),
    ]

    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4")

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    assert run.seconds >= 3  # both waits were honoured
    assert "is busy; retrying MLmodel in 1 s" in run.log
    assert "is busy; retrying MLmodel in 2 s" in run.log
    assert blob_reads(standin)[:3] == ["MLmodel", "MLmodel", "MLmodel"]


def test_a_read_failing_mid_file_resumes_at_the_last_byte(standin: AzureStandIn, tmp_path: Path) -> None:
    files = mlflow_onnx_files()
    files[WEIGHTS_FILE] += os.urandom(10 * 1024 * 1024)  # after the tensor's bytes: 3 chunks of 4 MiB
    standin.azure.register("linear", "4", files, folder="model")
    # MLmodel, model.onnx and the weights' first chunk are answered; the second chunk fails once.
    standin.azure.blob_failures += [None, None, None, (503, "ServerBusy", {"Retry-After": "0"})]

    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4")

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / WEIGHTS_FILE).read_bytes() == files[WEIGHTS_FILE]
    # chunk 1, chunk 2 refused, chunk 2 again, chunk 3: nothing read twice.
    assert blob_reads(standin).count(WEIGHTS_FILE) == 4


@pytest.mark.parametrize(
    ("status", "code"),
    [pytest.param(503, "ServerBusy", id="throttled"), pytest.param(500, "InternalError", id="server-error")],
)
def test_a_read_failing_after_the_listing_ends_with_its_cause(
    standin: AzureStandIn, tmp_path: Path, status: int, code: str
) -> None:
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    standin.azure.blob_failures += [(status, code, {"Retry-After": "0"})] * 10

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4"))

    assert message == (
        f"downloading model 'linear' version 4 failed: storage account '{STORAGE_ACCOUNT}' kept answering "
        f"HTTP {status} ({code}) after the retries; it is throttled or unavailable: re-run later"
    )
    assert len(blob_reads(standin)) == download_limits.Limits(1, 1).attempts
    assert not (tmp_path / "model" / "model.onnx").exists()


def test_a_retry_after_beyond_the_timeout_is_not_waited_for(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    standin.azure.blob_failures.append((503, "ServerBusy", {"Retry-After": "120"}))

    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4", "--timeout", "20")
    message = only_error(run)

    assert "asked to wait 120 s before retrying MLmodel, longer than the 20 s timeout leaves" in message
    assert run.seconds < 20


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(
            "AuthorizationFailure",
            "refused this runner's network (AuthorizationFailure): its firewall or private endpoint",
            id="firewall",
        ),
        pytest.param(
            "KeyBasedAuthenticationNotPermitted",
            "has shared-key access turned off (KeyBasedAuthenticationNotPermitted), but the datastore signs "
            "with the account key; make the datastore identity-based",
            id="shared-key-disabled",
        ),
    ],
)
def test_storage_refusals_name_their_cause(
    standin: AzureStandIn, tmp_path: Path, code: str, expected: str
) -> None:
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    standin.azure.storage_refusal = code

    message = only_error(run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4"))

    assert message.startswith(
        f"downloading model 'linear' version 4 failed: storage account '{STORAGE_ACCOUNT}'"
    )
    assert expected in message


def test_the_size_cap_refuses_before_reading_the_weights(standin: AzureStandIn, tmp_path: Path) -> None:
    files = mlflow_onnx_files()
    files[WEIGHTS_FILE] = files[WEIGHTS_FILE] + b"\0" * (2 * 1024 * 1024)  # padding after the tensor
    standin.azure.register("linear", "4", files, folder="model")

    message = only_error(
        run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4", "--max-size-mb", "1")
    )

    assert "larger than the limit of 1 MB (at least" in message
    assert "raise --max-size-mb" in message
    assert WEIGHTS_FILE not in blob_reads(standin)


def large_model() -> dict[str, bytes]:
    """A model whose one initializer is a 600 MiB external-data file (a Gather over a zero table)."""
    table = TensorProto(name="table", data_type=TensorProto.FLOAT, dims=[LARGE_MODEL_BYTES // 4096, 1024])
    table.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(LARGE_MODEL_BYTES))):
        table.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "i"], ["y"])],
        "lookup",
        [helper.make_tensor_value_info("i", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1024])],
        [table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return {"model.onnx": model.SerializeToString(), "weights.bin": bytes(LARGE_MODEL_BYTES)}


def test_a_600_mb_model_is_fetched_in_bounded_memory(standin: AzureStandIn, tmp_path: Path) -> None:
    standin.azure.register("big", "1", large_model(), folder="model")

    run = run_fetch(standin, tmp_path, "--model-name", "big", "--model-version", "1", timeout=300)

    assert run.returncode == 0, run.log
    assert (tmp_path / "model" / "weights.bin").stat().st_size == LARGE_MODEL_BYTES
    print(f"peak RSS of the fetch: {run.max_rss_mb:.0f} MB for a {LARGE_MODEL_BYTES >> 20} MiB model")
    assert run.max_rss_mb < RSS_LIMIT_MB


FAKE_AZ = """#!{python}
import json, sys
with open({calls!r}, "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
wanted = sys.argv[sys.argv.index("--resource") + 1].rstrip("/")
if wanted not in {tokens!r}:
    sys.exit("no token for " + wanted)
print(json.dumps({{"accessToken": {tokens!r}[wanted], "expires_on": 4102444800, "tokenType": "Bearer"}}))
"""


def fake_az(folder: Path, arm_audience: str = ARM_AUDIENCE) -> Path:
    """An `az` on PATH that answers `az account get-access-token` as the CLI does after azure/login:
    a token for its cloud's ARM or for storage, whichever `--resource` names (none for another)."""
    folder.mkdir()
    script = folder / "az"
    tokens = {audience: token_for(audience) for audience in (arm_audience, STORAGE_AUDIENCE)}
    script.write_text(FAKE_AZ.format(python=sys.executable, calls=str(folder / "calls"), tokens=tokens))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_without_a_client_secret_the_azure_cli_session_signs_in(
    standin: AzureStandIn, tmp_path: Path
) -> None:
    standin.azure.register("linear", "4", mlflow_onnx_files(), folder="model")
    az = fake_az(tmp_path / "az-bin")
    # A managed identity endpoint that would answer if the step asked it (it must not).
    changes: dict[str, str | None] = {
        "AZURE_CLIENT_SECRET": None,
        "AZURE_CLIENT_ID": None,
        "AZURE_TENANT_ID": None,
        "IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi/token",
        "IDENTITY_HEADER": "imds-header",
        "PATH": f"{az}{os.pathsep}{os.environ['PATH']}",
    }

    run = run_fetch(standin, tmp_path, "--model-name", "linear", "--model-version", "4", env_changes=changes)

    assert run.returncode == 0, run.log
    calls = (az / "calls").read_text().splitlines()
    assert calls
    assert all(call.startswith("account get-access-token") for call in calls)
    assert any("--resource https://management.azure.com" in call for call in calls)
    assert not standin.azure.requests(host=LOGIN_HOST)  # no client-secret sign-in
    assert {r.authorization for r in standin.azure.requests(host=ARM_HOST) if r.method != "CONNECT"} == {
        f"Bearer {ACCESS_TOKEN}"
    }


def test_a_folder_model_keeps_its_tokenizer(standin: AzureStandIn, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from tests.test_fetch import tiny_tokenizer_json

    from .test_azureml_fetch import onnx_model

    files = {
        "model.onnx": onnx_model(2.0),
        "tokenizer.json": tiny_tokenizer_json(),
        "modelship.json": json.dumps({"name": "sentiment"}).encode(),
        "README.md": b"# not fetched\n",
    }
    standin.azure.register("sentiment", "1", files, folder="export")

    run = run_fetch(standin, tmp_path, "--model-name", "sentiment", "--model-version", "1")

    assert run.returncode == 0, run.log
    dest = tmp_path / "model"
    assert (dest / "tokenizer.json").read_bytes() == files["tokenizer.json"]
    assert Tokenizer.from_file(str(dest / "tokenizer.json")).encode("good bad").ids == [1, 2]
    record = json.loads((dest / "provenance.json").read_text())
    assert sorted(record["files"]) == ["model.onnx", "modelship.json", "tokenizer.json"]
    assert "README.md" not in blob_reads(standin)
