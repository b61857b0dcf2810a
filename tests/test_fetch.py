"""The fetch step: local files and folders, https downloads from a real local TLS server, and its errors."""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
import subprocess
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from onnx import TensorProto, helper, save

from scripts import fetch
from scripts.fetch_request import FetchRequest
from scripts.provenance import redact_url
from serving.model_folder import CONFIG_FILE, SIDECARS, TOKENIZER_FILE
from tests import steps
from tests.azureml.standin_ca import make_ca
from tests.mlflow_models import WEIGHTS_FILE, onnx_with_external_data
from tests.steps import StepRun

LOCALHOST = "127.0.0.1"
AZURE_WORKSPACE = [
    "--source",
    "azureml",
    "--azure-subscription-id",
    "s",
    "--azure-resource-group",
    "rg",
    "--azure-workspace",
    "w",
]
HTML_PAGE = b"<!DOCTYPE html><html><body>Sign in</body></html>"


def write_tiny_onnx(path: Path, factor: float = 2.0) -> bytes:
    """Write a one-node ONNX model (y = x * factor) and return its bytes."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    constant = helper.make_tensor("factor", TensorProto.FLOAT, [2], [factor, factor])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "factor"], ["y"])], "tiny", [x], [y], [constant])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, str(path))
    return path.read_bytes()


@pytest.fixture
def run_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Run `fetch.main` in-process: `ok` expects it to pass, `fails` to exit 1 (and gives its summary)."""
    summary_file = tmp_path / "step_summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)

    def ok(*argv: str) -> StepRun:
        run = steps.run_step(fetch.main, argv, tmp_path, monkeypatch)
        assert run.code == 0, run.out + run.err
        return run

    def fails(*argv: str) -> str:
        summary_file.write_text("", encoding="utf-8")
        with pytest.raises(SystemExit) as exit_info:  # not steps.run_step: the tests read capsys
            fetch.main(list(argv))
        assert exit_info.value.code == 1
        return summary_file.read_text(encoding="utf-8")

    return types.SimpleNamespace(ok=ok, fails=fails)


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """A folder like examples/<name>: model.onnx plus both sidecars."""
    folder = tmp_path / "housing"
    write_tiny_onnx(folder / "model.onnx")
    (folder / "modelship.json").write_text(
        json.dumps({"name": "housing", "version": "1.2.3"}), encoding="utf-8"
    )
    (folder / "samples.json").write_text(json.dumps([{"request": {}, "response": {}}]), encoding="utf-8")
    return folder


def test_local_folder_copies_model_sidecars_and_writes_provenance(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    expected = hashlib.sha256((model_folder / "model.onnx").read_bytes()).hexdigest()

    run = run_step.ok("--source", "local", "--model", str(model_folder), "--dest", str(dest))

    assert (dest / "model.onnx").read_bytes() == (model_folder / "model.onnx").read_bytes()
    for sidecar in ("modelship.json", "samples.json"):
        assert (dest / sidecar).read_bytes() == (model_folder / sidecar).read_bytes()
    record = json.loads((dest / "provenance.json").read_text(encoding="utf-8"))
    assert record["source"] == "local"
    assert record["uri"] == str((model_folder / "model.onnx").resolve())
    assert (record["name"], record["version"], record["sha256"]) == ("housing", "1.2.3", expected)
    fetched_at = datetime.datetime.fromisoformat(record["fetched_at"])
    assert fetched_at.tzinfo is not None
    assert "workspace" not in record
    assert run.outputs == {
        "model-dir": str(dest.resolve()),
        "model-file": str((dest / "model.onnx").resolve()),
        "sha256": expected,
        "folder-sha256": sha256sum_of_sha256sum(dest, ["model.onnx", "modelship.json", "samples.json"]),
        "model-name": "housing",
        "model-version": "1.2.3",
        "provenance": str((dest / "provenance.json").resolve()),
    }
    assert run.summary.startswith("### ✅ Fetched model `housing` version `1.2.3`")
    assert expected in run.summary


def test_run_takes_a_typed_request_and_its_outputs_are_what_main_writes(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path
) -> None:
    """`run` is the step without its edge: a typed request in, a typed result out, nothing written."""
    dest = tmp_path / "typed"
    model_bytes = (model_folder / "model.onnx").read_bytes()

    result = fetch.run(FetchRequest(source="local", dest=dest, model=str(model_folder)))

    assert result.passed is True
    assert (result.model_dir, result.model_path) == (dest.resolve(), (dest / "model.onnx").resolve())
    assert result.size_bytes == len(model_bytes)
    assert result.fetched.sidecars == ("modelship.json", "samples.json")
    record = result.fetched.record
    assert (record.source, record.name, record.version) == ("local", "housing", "1.2.3")
    assert record.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert not (tmp_path / "github_output").exists()
    assert not (tmp_path / "step_summary").exists()

    run = run_step.ok("--source", "local", "--model", str(model_folder), "--dest", str(dest))
    assert result.outputs() == run.outputs
    assert run.summary.strip() == fetch.summary(result).strip()


def sha256sum_of_sha256sum(folder: Path, names: list[str]) -> str:
    """What the docs tell a user to run for a folder digest: `LC_ALL=C sha256sum <names> | sha256sum`."""
    listing = subprocess.run(
        ["sha256sum", *sorted(names)], cwd=folder, env={"LC_ALL": "C"}, capture_output=True, check=True
    ).stdout
    return hashlib.sha256(listing).hexdigest()


def test_local_file_renamed_to_model_onnx_with_name_from_stem(
    run_step: types.SimpleNamespace, tmp_path: Path
) -> None:
    source = tmp_path / "src" / "churn.onnx"
    write_tiny_onnx(source)
    dest = tmp_path / "out"

    run = run_step.ok(
        "--source", "local", "--model", str(source), "--dest", str(dest), "--model-version", "7"
    )

    assert (dest / "model.onnx").read_bytes() == source.read_bytes()
    assert sorted(path.name for path in dest.iterdir()) == ["model.onnx", "provenance.json"]
    assert (run.outputs["model-name"], run.outputs["model-version"]) == ("churn", "7")


@pytest.mark.parametrize(
    ("name_flag", "version_flag"),
    [
        pytest.param("--model-name", "--model-version", id="model-name-and-version"),
        pytest.param("--name", "--version", id="deprecated-name-and-version"),
    ],
)
def test_model_name_and_version_inputs_override_the_sidecar(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path, name_flag: str, version_flag: str
) -> None:
    run = run_step.ok(
        "--source", "local", "--model", str(model_folder), "--dest", str(tmp_path / "out"),
        name_flag, "prices", version_flag, "2024.1",
    )  # fmt: skip
    assert (run.outputs["model-name"], run.outputs["model-version"]) == ("prices", "2024.1")
    deprecated = name_flag == "--name"
    assert (
        "input 'name' is deprecated and will be removed; use 'model-name' instead" in run.err
    ) is deprecated


def test_inputs_come_from_env_like_in_actions(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_SOURCE", "local")
    monkeypatch.setenv("INPUT_MODEL", str(model_folder))
    monkeypatch.setenv("INPUT_DEST", str(tmp_path / "from-env"))
    run = run_step.ok()
    assert run.outputs["model-dir"] == str((tmp_path / "from-env").resolve())


def test_refetching_the_same_model_keeps_the_folder_identical(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    run_step.ok("--source", "local", "--model", str(model_folder), "--dest", str(dest))
    first = (dest / "provenance.json").read_bytes()
    record = json.loads(first)
    record["fetched_at"] = "2020-01-01T00:00:00Z"  # as if the first fetch were long ago
    (dest / "provenance.json").write_text(json.dumps(record), encoding="utf-8")

    run_step.ok("--source", "local", "--model", str(model_folder), "--dest", str(dest))
    assert json.loads((dest / "provenance.json").read_bytes())["fetched_at"] == "2020-01-01T00:00:00Z"

    write_tiny_onnx(model_folder / "model.onnx", factor=3.0)  # a new model gets a new record
    run_step.ok("--source", "local", "--model", str(model_folder), "--dest", str(dest))
    assert json.loads((dest / "provenance.json").read_bytes())["fetched_at"] != "2020-01-01T00:00:00Z"


def test_refetch_removes_sidecars_the_new_source_lacks(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    run_step.ok("--source", "local", "--model", str(model_folder), "--dest", str(dest))
    bare = tmp_path / "bare" / "other.onnx"
    write_tiny_onnx(bare)
    run_step.ok("--source", "local", "--model", str(bare), "--dest", str(dest))
    assert sorted(path.name for path in dest.iterdir()) == ["model.onnx", "provenance.json"]


def test_expected_sha256_accepts_a_prefixed_uppercase_match(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path
) -> None:
    digest = hashlib.sha256((model_folder / "model.onnx").read_bytes()).hexdigest()
    run = run_step.ok(
        "--source", "local", "--model", str(model_folder), "--dest", str(tmp_path / "out"),
        "--expected-sha256", f"sha256:{digest.upper()}",
    )  # fmt: skip
    assert run.outputs["sha256"] == digest


def test_expected_sha256_mismatch_fails_showing_both(
    run_step: types.SimpleNamespace, model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = hashlib.sha256((model_folder / "model.onnx").read_bytes()).hexdigest()
    wrong = "0" * 64
    dest = tmp_path / "out"
    summary = run_step.fails(
        "--source", "local", "--model", str(model_folder), "--dest", str(dest), "--expected-sha256", wrong
    )
    message = capsys.readouterr().err
    assert digest in message
    assert wrong in message
    assert summary.startswith("❌")
    assert not (dest / "model.onnx").exists()
    assert not (dest / "provenance.json").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"not a protobuf at all \xff\xfe" * 20, "not a valid ONNX model", id="garbage"),
        pytest.param(b"", "the file is empty", id="empty"),
        pytest.param(
            b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n", "git lfs pull", id="lfs"
        ),
        pytest.param(HTML_PAGE, "HTML/XML page", id="html"),
    ],
)
def test_a_file_that_is_not_onnx_is_refused(
    run_step: types.SimpleNamespace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    expected: str,
) -> None:
    source = tmp_path / "broken.onnx"
    source.write_bytes(content)
    dest = tmp_path / "out"
    run_step.fails("--source", "local", "--model", str(source), "--dest", str(dest))
    message = capsys.readouterr().err
    assert "not a valid ONNX model" in message
    assert expected in message
    assert not (dest / "model.onnx").exists()


def test_truncated_onnx_is_refused(
    run_step: types.SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = write_tiny_onnx(tmp_path / "whole.onnx")
    (tmp_path / "cut.onnx").write_bytes(content[: len(content) // 2])
    run_step.fails("--source", "local", "--model", str(tmp_path / "cut.onnx"), "--dest", str(tmp_path / "o"))
    assert "is not a valid ONNX model (onnxruntime" in capsys.readouterr().err


def test_folder_with_several_models_needs_onnx_file(
    run_step: types.SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "two"
    write_tiny_onnx(folder / "a.onnx")
    b_bytes = write_tiny_onnx(folder / "b.onnx", factor=5.0)
    run_step.fails("--source", "local", "--model", str(folder), "--dest", str(tmp_path / "out"))
    assert "several .onnx files (a.onnx, b.onnx)" in capsys.readouterr().err

    run_step.ok(
        "--source", "local", "--model", str(folder), "--onnx-file", "b.onnx", "--dest", str(tmp_path / "o")
    )
    assert (tmp_path / "o" / "model.onnx").read_bytes() == b_bytes


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param([], "--source must be one of local, https, azureml", id="no-source"),
        pytest.param(["--source", "s3"], "not 's3'", id="unknown-source"),
        pytest.param(["--source", "local"], "source 'local' needs --model", id="local-without-model"),
        pytest.param(["--source", "https"], "source 'https' needs --model", id="https-without-model"),
        pytest.param(
            ["--source", "local", "--model", "https://example.com/m.onnx"],
            "use source 'https'",
            id="local-url",
        ),
        pytest.param(
            ["--source", "https", "--model", "http://example.com/m.onnx"],
            "plain http:// URL",
            id="plain-http",
        ),
        pytest.param(
            ["--source", "https", "--model", "ftp://example.com/m.onnx"], "needs an https:// URL", id="ftp"
        ),
        pytest.param(
            ["--source", "local", "--model", "m.onnx", "--azure-workspace", "ws"],
            "--azure-workspace only applies to source 'azureml'",
            id="workspace-with-local",
        ),
        pytest.param(
            ["--source", "local", "--model", "m.onnx", "--workspace", "ws"],
            "--workspace only applies to source 'azureml'",
            id="old-workspace-with-local",
        ),
        pytest.param(
            ["--source", "https", "--model", "https://x/m.onnx", "--azure-cloud", "AzureChinaCloud"],
            "--azure-cloud only applies to source 'azureml'",
            id="cloud-with-https",
        ),
        pytest.param(
            [*AZURE_WORKSPACE[:-2], "--model-name", "m"],
            "source 'azureml' needs --azure-workspace",
            id="azureml-without-workspace",
        ),
        pytest.param(
            ["--source", "azureml"],
            "needs --model-name, --azure-subscription-id, --azure-resource-group, --azure-workspace (a ",
            id="azureml-bare",
        ),
        pytest.param(
            ["--source", "azureml", "--model", "x.onnx"],
            "--model ('x.onnx') is not an Azure ML model URI; give azureml://registries/",
            id="azureml-model",
        ),
        pytest.param(
            [*AZURE_WORKSPACE, "--model-name", "m", "--model-version", "3", "--model-label", "prod"],
            "either --model-version (3) or --model-label (prod)",
            id="version-and-label",
        ),
        pytest.param(
            ["--source", "azureml", "--name", "n"], "--name and --version only apply", id="azureml-name"
        ),
        pytest.param(
            ["--source", "local", "--model", "m.onnx", "--expected-sha256", "abc"],
            "must be 64 hexadecimal digits",
            id="short-sha",
        ),
        pytest.param(
            ["--source", "https", "--model", "https://x/m.onnx", "--timeout", "0"],
            "--timeout must be a positive number",
            id="zero-timeout",
        ),
        pytest.param(
            ["--source", "local", "--model", "/nonexistent/model.onnx"], "does not exist", id="missing-path"
        ),
    ],
)
def test_invalid_inputs_are_refused_before_any_work(
    run_step: types.SimpleNamespace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    dest = tmp_path / "never-created"
    run_step.fails(*argv, "--dest", str(dest))
    assert expected in capsys.readouterr().err
    assert not dest.exists()


def test_messages_name_the_action_input_in_actions(
    run_step: types.SimpleNamespace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INPUT_TIMEOUT", "0")  # as actions/fetch passes its inputs
    run_step.fails("--source", "https", "--model", "https://x/m.onnx", "--dest", str(tmp_path / "out"))
    assert "input 'timeout' must be a positive number, not '0'" in capsys.readouterr().err


def test_dest_equal_to_the_source_folder_is_refused(
    run_step: types.SimpleNamespace, model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(path.name for path in model_folder.iterdir())
    run_step.fails("--source", "local", "--model", str(model_folder), "--dest", str(model_folder))
    assert "is the folder the model comes from" in capsys.readouterr().err
    assert sorted(path.name for path in model_folder.iterdir()) == before


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://h.example/m.onnx?sig=SECRET&se=1", "https://h.example/m.onnx", id="sas-query"),
        pytest.param(
            "https://user:pw@h.example:8443/a/m.onnx#x", "https://h.example:8443/a/m.onnx", id="userinfo"
        ),
        pytest.param("https://h.example/m.onnx", "https://h.example/m.onnx", id="plain"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


# --- https: a real TLS server on 127.0.0.1 with a throwaway certificate ---------------------------


@dataclass
class TlsServer:
    """A local HTTPS server and the CA bundle that trusts it."""

    base: str
    ca_bundle: Path
    requests_seen: list[str]
    plain_base: str  # the same routes over plain http, for allow-http


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """Serve a model, error statuses, a slow answer, an oversized one and an http redirect over TLS."""
    plain = ThreadingHTTPServer((LOCALHOST, 0), BaseHTTPRequestHandler)  # bound now, handler set below
    plain_base = f"http://{LOCALHOST}:{plain.server_address[1]}"
    folder = tmp_path_factory.mktemp("tls")
    model_bytes = write_tiny_onnx(folder / "served.onnx")
    ca_bundle, cert_path, key_path = make_ca(["localhost"]).write(folder)  # 127.0.0.1 is always in it
    published = onnx_with_external_data(3.0)  # a model published as a folder of files
    published |= {CONFIG_FILE: b'{"name": "linear"}', TOKENIZER_FILE: tiny_tokenizer_json()}
    release = threading.Event()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            path = self.path.split("?", 1)[0]
            if path == "/models/housing.onnx":
                self.reply(200, model_bytes)
            elif path == "/external.onnx":
                self.reply(200, onnx_with_external_data(1.0)["model.onnx"])
            elif path.startswith(("/published/", "/locked/")) and path.split("/", 2)[2] in published:
                name = path.split("/", 2)[2]
                locked = path.startswith("/locked/") and name in SIDECARS
                self.reply(403, b"denied") if locked else self.reply(200, published[name])
            elif path.startswith("/spa/"):  # answers every path with its HTML page
                self.reply(200, published["model.onnx"] if path == "/spa/model.onnx" else HTML_PAGE)
            elif path == "/login.onnx":
                self.reply(200, HTML_PAGE)
            elif path == "/private.onnx":
                self.reply(403, b"denied")
            elif path == "/broken.onnx":
                self.reply(500, b"oops")
            elif path == "/slow.onnx":
                release.wait(10)
                self.reply(200, model_bytes)
            elif path == "/big.onnx":
                self.reply(200, b"\0" * (2 * 1024 * 1024))
            elif path == "/to-http.onnx":
                self.send_response(302)
                self.send_header("Location", f"{plain_base}/models/housing.onnx")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.reply(404, b"not found")

        def reply(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    plain.RequestHandlerClass = Handler
    threads = [threading.Thread(target=each.serve_forever, daemon=True) for each in (server, plain)]
    for thread in threads:
        thread.start()
    try:
        yield TlsServer(f"https://{LOCALHOST}:{server.server_address[1]}", ca_bundle, seen, plain_base)
    finally:
        release.set()
        for each, thread in zip((server, plain), threads, strict=True):
            each.shutdown()
            each.server_close()
            thread.join(10)


@pytest.fixture
def trusted(tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch) -> TlsServer:
    """The TLS server, with requests told to trust its certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_bundle))
    return tls_server


def test_https_download(run_step: types.SimpleNamespace, trusted: TlsServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    url = f"{trusted.base}/models/housing.onnx?sig=s3cret"
    run = run_step.ok("--source", "https", "--model", url, "--dest", str(dest), "--model-version", "4")
    expected = hashlib.sha256((dest / "model.onnx").read_bytes()).hexdigest()
    record = json.loads((dest / "provenance.json").read_text(encoding="utf-8"))
    assert record["source"] == "https"
    assert record["uri"] == f"{trusted.base}/models/housing.onnx"  # no query: it may hold a SAS token
    assert (record["name"], record["version"], record["sha256"]) == ("housing", "4", expected)
    assert run.outputs["sha256"] == expected
    assert "s3cret" not in run.summary
    assert "/models/housing.onnx?sig=s3cret" in trusted.requests_seen


def tiny_tokenizer_json() -> bytes:
    """A real (tiny) tokenizer.json, made with the tokenizers library."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "good": 1, "bad": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer.to_str().encode()


def test_https_brings_the_external_data_and_sidecars_beside_the_model(
    run_step: types.SimpleNamespace, trusted: TlsServer, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    trusted.requests_seen.clear()

    run = run_step.ok(
        "--source", "https", "--model", f"{trusted.base}/published/model.onnx?sig=s3", "--dest", str(dest)
    )

    published = onnx_with_external_data(3.0)
    assert (dest / WEIGHTS_FILE).read_bytes() == published[WEIGHTS_FILE]
    assert (dest / TOKENIZER_FILE).read_bytes() == tiny_tokenizer_json()
    assert json.loads((dest / CONFIG_FILE).read_text()) == {"name": "linear"}
    assert not (dest / "samples.json").exists()  # the server has none: 404 means absent
    # Every file from the same folder, with the URL's query (a container SAS grants them all).
    assert sorted(trusted.requests_seen) == sorted(
        f"/published/{name}?sig=s3" for name in ("model.onnx", WEIGHTS_FILE, *SIDECARS)
    )
    record = json.loads((dest / "provenance.json").read_text())
    assert sorted(record["files"]) == sorted(["model.onnx", WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE])
    assert run.outputs["folder-sha256"] == record["folder_sha256"]
    assert "| download | " in run.summary


def test_https_sidecars_the_url_does_not_grant_are_skipped_with_a_warning(
    run_step: types.SimpleNamespace, trusted: TlsServer, tmp_path: Path
) -> None:
    run = run_step.ok(
        "--source", "https", "--model", f"{trusted.base}/locked/model.onnx", "--dest", str(tmp_path)
    )

    assert (tmp_path / WEIGHTS_FILE).is_file()
    assert not (tmp_path / TOKENIZER_FILE).exists()
    assert f"/locked/{TOKENIZER_FILE} answered 403; fetching the model without it" in run.out + run.err


def test_https_missing_weights_are_named(
    run_step: types.SimpleNamespace, trusted: TlsServer, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    summary = run_step.fails(
        "--source", "https", "--model", f"{trusted.base}/external.onnx", "--dest", str(dest)
    )
    assert f"external.onnx keeps its weights in '{WEIGHTS_FILE}' beside it: " in summary
    assert f"/{WEIGHTS_FILE} answered 404 Not Found" in summary
    assert sorted(path.name for path in dest.iterdir()) == []


def test_https_an_html_page_for_a_sidecar_is_refused(
    run_step: types.SimpleNamespace, trusted: TlsServer, tmp_path: Path
) -> None:
    summary = run_step.fails(
        "--source", "https", "--model", f"{trusted.base}/spa/model.onnx", "--dest", str(tmp_path)
    )
    assert "answered, but not with JSON (an HTML page for a missing file?)" in summary
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize(
    ("path", "extra", "expected"),
    [
        pytest.param("/nope.onnx", [], "answered 404 Not Found", id="404"),
        pytest.param("/private.onnx", [], "403 Forbidden; the file needs credentials", id="403"),
        pytest.param("/broken.onnx", [], "answered HTTP 500", id="500"),
        pytest.param("/login.onnx", [], "HTML/XML page", id="html-page"),
        pytest.param("/slow.onnx", ["--timeout", "0.5"], "did not finish within 0.5 s", id="timeout"),
        pytest.param("/big.onnx", ["--max-size-mb", "1"], "larger than the limit of 1 MB", id="too-big"),
        pytest.param("/to-http.onnx", [], "which is not https; refusing it", id="redirect-to-http"),
    ],
)
def test_https_errors(
    run_step: types.SimpleNamespace,
    trusted: TlsServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: str,
    extra: list[str],
    expected: str,
) -> None:
    dest = tmp_path / "out"
    run_step.fails("--source", "https", "--model", trusted.base + path, "--dest", str(dest), *extra)
    assert expected in capsys.readouterr().err
    assert not (dest / "model.onnx").exists()
    assert [entry.name for entry in dest.iterdir()] == []


def test_plain_http_only_with_allow_http(
    run_step: types.SimpleNamespace, trusted: TlsServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{trusted.plain_base}/models/housing.onnx"
    run_step.fails("--source", "https", "--model", url, "--dest", str(tmp_path / "refused"))
    assert "plain http:// URL" in capsys.readouterr().err

    run = run_step.ok("--source", "https", "--model", url, "--dest", str(tmp_path / "dev"), "--allow-http")
    assert json.loads((tmp_path / "dev" / "provenance.json").read_text(encoding="utf-8"))["uri"] == url
    redirected = f"{trusted.base}/to-http.onnx"
    again = run_step.ok(
        "--source", "https", "--model", redirected, "--dest", str(tmp_path / "r"), "--allow-http"
    )
    assert again.outputs["sha256"] == run.outputs["sha256"]


def test_https_untrusted_certificate(
    run_step: types.SimpleNamespace, tls_server: TlsServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{tls_server.base}/models/housing.onnx"
    run_step.fails("--source", "https", "--model", url, "--dest", str(tmp_path / "out"))
    assert "point REQUESTS_CA_BUNDLE at its certificate bundle" in capsys.readouterr().err


def test_https_nobody_listening(
    run_step: types.SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_step.fails(
        "--source", "https", "--model", "https://127.0.0.1:9/m.onnx", "--dest", str(tmp_path / "o")
    )
    assert "could not connect to https://127.0.0.1:9/m.onnx" in capsys.readouterr().err
