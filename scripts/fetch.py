"""Fetch an ONNX model into a model folder (contract A): from a local path, an https:// URL or Azure ML.

The folder gets `model.onnx` (always that name), the sidecars `modelship.json`, `samples.json`
and `tokenizer.json` when the source has them beside the model, and `provenance.json`, which the build
step turns into labels.
Fetching the same model again keeps the first `fetched_at`, so the folder (and the image built
from it) stays byte-identical and the build cache holds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from scripts import gha, mlflow_model, model_inputs, onnx_files, provenance
from scripts.model_inputs import DEFAULT_VERSION
from scripts.provenance import Provenance, redact_url

MODEL_FILE = "model.onnx"
SIDECARS = ("modelship.json", "samples.json", "tokenizer.json")  # tokenizer.json: serving/tokenizer.py
DEFAULT_DEST = ".modelship/model"
AZURE_OPTIONS = ("subscription_id", "resource_group", "workspace", "model_label")
_PARTIAL = ".model.onnx.part"
_AZURE_STAGING = ".azureml-download"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FetchRequest:
    """A checked fetch request: what to fetch, from where, and where to put it."""

    source: str
    dest: Path
    model: str = ""
    expected_sha256: str | None = None
    name: str | None = None
    version: str | None = None
    onnx_file: str | None = None
    allow_http: bool = False
    timeout: float = 300.0
    max_bytes: int = 2048 * 1024 * 1024
    subscription_id: str = ""
    resource_group: str = ""
    workspace: str = ""
    model_name: str = ""
    model_version: str = "latest"
    model_label: str | None = None


@dataclass(frozen=True)
class Fetched:
    """What one source brought: the record, the sidecars, the external data, the download's totals."""

    record: Provenance
    sidecars: tuple[str, ...]
    external: tuple[str, ...] = ()
    downloaded_bytes: int = 0
    download_seconds: float | None = None


@dataclass(frozen=True)
class FetchResult:
    """What the fetch step produced."""

    model_dir: Path
    model_path: Path
    record: Provenance
    size_bytes: int
    sidecars: tuple[str, ...]
    external: tuple[str, ...] = ()
    downloaded_bytes: int = 0
    download_seconds: float | None = None


def normalize_sha256(value: str | None) -> str | None:
    """Accept `abc…`, `ABC…` or `sha256:abc…`; refuse anything that is not 64 hex digits."""
    if value is None or not value.strip():
        return None
    digest = value.strip().lower().removeprefix("sha256:")
    if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise gha.StepError(
            f"input 'expected-sha256' must be 64 hexadecimal digits (optionally prefixed 'sha256:'), "
            f"not {value!r}"
        )
    return digest


def check_request(args: argparse.Namespace) -> FetchRequest:
    """Refuse invalid combinations of inputs before any work, naming the input at fault."""
    source = (args.source or "").strip().lower()
    if source not in provenance.SOURCES:
        raise gha.StepError(
            f"input 'source' must be one of {', '.join(provenance.SOURCES)}, not {args.source!r}"
        )
    model = (args.model or "").strip()
    common: dict[str, Any] = {
        "source": source,
        "dest": Path(args.dest),
        "expected_sha256": normalize_sha256(args.expected_sha256),
        "onnx_file": args.onnx_file or None,
        "allow_http": bool(args.allow_http),
        "timeout": positive_number(args.timeout, "timeout"),
        "max_bytes": int(positive_number(args.max_size_mb, "max-size-mb") * 1024 * 1024),
    }
    if source == "azureml":
        return check_azureml(args, model, common)
    given_azure = [option for option in AZURE_OPTIONS if getattr(args, option)]
    if given_azure:
        names = ", ".join("'" + option.replace("_", "-") + "'" for option in given_azure)
        raise gha.StepError(f"input {names} only applies to source 'azureml', not to source '{source}'")
    if not model:
        what = (
            "the path of a .onnx file or of a folder holding one" if source == "local" else "an https:// URL"
        )
        raise gha.StepError(f"source '{source}' needs input 'model': {what}")
    scheme = urlsplit(model).scheme.lower()
    if source == "local" and scheme in {"http", "https"}:
        raise gha.StepError(f"input 'model' is a URL ({redact_url(model)}); use source 'https' for URLs")
    if source == "https":
        if scheme == "http" and not args.allow_http:
            raise gha.StepError(
                f"input 'model' is a plain http:// URL ({redact_url(model)}); models are fetched over "
                "https:// only (allow-http exists for local development servers)"
            )
        if scheme not in {"http", "https"}:
            raise gha.StepError(f"source 'https' needs an https:// URL as input 'model', not {model!r}")
    name, version = model_inputs.name_and_version(args)
    return FetchRequest(model=model, name=name or None, version=version or None, **common)


def check_azureml(args: argparse.Namespace, model: str, common: dict[str, Any]) -> FetchRequest:
    """The Azure ML half of `check_request`."""
    if model:
        raise gha.StepError(
            "input 'model' is for sources 'local' and 'https'; with source 'azureml' name the model "
            "with 'model-name' (and 'model-version' or 'model-label')"
        )
    if args.name or args.version:
        raise gha.StepError(
            "inputs 'name' and 'version' only apply to sources 'local' and 'https'; an Azure ML model "
            "keeps its registered name and version (choose it with 'model-name' and 'model-version')"
        )
    missing = [
        option.replace("_", "-")
        for option in ("subscription_id", "resource_group", "workspace", "model_name")
        if not getattr(args, option)
    ]
    if missing:
        raise gha.StepError(f"source 'azureml' needs input {', '.join(repr(name) for name in missing)}")
    version = (args.model_version or "latest").strip()
    if args.model_label and version != "latest":
        raise gha.StepError("give either input 'model-version' or 'model-label', not both")
    return FetchRequest(
        subscription_id=args.subscription_id,
        resource_group=args.resource_group,
        workspace=args.workspace,
        model_name=args.model_name,
        model_version=version,
        model_label=args.model_label or None,
        **common,
    )


def positive_number(value: object, name: str) -> float:
    """Parse a positive number input."""
    try:
        number = float(str(value))
    except ValueError:
        number = 0.0
    if number <= 0:
        raise gha.StepError(f"input '{name}' must be a positive number, not {value!r}")
    return number


def sniff_not_onnx(head: bytes) -> str | None:
    """Why the first bytes of a file show it is not a model (None when they might be one)."""
    if head.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the model: run `git lfs pull` or fetch the file itself"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml")):
        return "it is an HTML/XML page, not a model: check the URL (a login or error page was downloaded)"
    if not head:
        return "the file is empty"
    return None


def check_onnx(path: Path, label: str) -> None:
    """Make sure onnxruntime can load the model, or explain why it cannot."""
    with path.open("rb") as handle:
        reason = sniff_not_onnx(handle.read(512))
    if reason:
        raise gha.StepError(f"{label} is not a valid ONNX model: {reason}")
    import onnxruntime  # slow to import, only needed here

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped pybind errors
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise gha.StepError(
            f"{label} is not a valid ONNX model (onnxruntime {onnxruntime.__version__} cannot load it: "
            f"{detail[:300]}); check that it is an exported .onnx file and that its opset is supported"
        ) from error


def pick_onnx(folder: Path, onnx_file: str | None, label: str) -> Path:
    """The one .onnx file of a folder, or the one named by `onnx_file`."""
    if onnx_file:
        chosen = folder / onnx_file
        if not chosen.is_file():
            raise gha.StepError(f"input 'onnx-file' names {onnx_file!r}, which is not a file in {label}")
        return chosen
    if (folder / mlflow_model.MLMODEL).is_file():
        text = (folder / mlflow_model.MLMODEL).read_text(encoding="utf-8", errors="replace")
        chosen = folder / mlflow_model.onnx_file_of(text, label)
        if not chosen.is_file():
            raise gha.StepError(f"{label}'s {mlflow_model.MLMODEL} names {chosen.name!r}, which is missing")
        return chosen
    found = sorted(folder.glob("*.onnx"))
    if not found:
        raise gha.StepError(f"{label} holds no .onnx file; point input 'model' at the model file itself")
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise gha.StepError(f"{label} holds several .onnx files ({names}); choose one with input 'onnx-file'")
    return found[0]


def read_sidecar_config(folder: Path) -> dict[str, Any]:
    """The optional `modelship.json` beside a model (an empty dict when absent or not an object)."""
    path = folder / "modelship.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise gha.StepError(f"{path} is not valid JSON ({error}); fix or remove it") from error
    return data if isinstance(data, dict) else {}


def prepare_dest(dest: Path, source_folder: Path | None) -> Provenance | None:
    """Create the destination, clear what a previous fetch left there, return its old record."""
    if source_folder is not None and dest.resolve() == source_folder.resolve():
        raise gha.StepError(
            f"input 'dest' ({dest}) is the folder the model comes from; choose another folder (default "
            f"{DEFAULT_DEST})"
        )
    if dest.exists() and not dest.is_dir():
        raise gha.StepError(f"input 'dest' ({dest}) exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        previous: Provenance | None = provenance.read(dest)
    except gha.StepError:
        previous = None
    onnx_files.remove_fetched(dest, dest / MODEL_FILE)
    for name in (MODEL_FILE, provenance.FILENAME, _PARTIAL, *SIDECARS):
        (dest / name).unlink(missing_ok=True)
    shutil.rmtree(dest / _AZURE_STAGING, ignore_errors=True)
    return previous


def download_https(url: str, target: Path, request: FetchRequest) -> None:
    """Stream a URL to `target` within the size and time limits, with one clear error per failure."""
    import requests

    shown = redact_url(url)
    deadline = time.monotonic() + request.timeout
    socket_timeout = min(request.timeout, 30.0)
    try:
        hooks = {"response": [] if request.allow_http else [refuse_redirect_to_http]}
        with requests.get(url, stream=True, timeout=socket_timeout, hooks=hooks) as response:
            check_status(response.status_code, response.reason, shown)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > request.max_bytes:
                raise size_error(shown, int(length), request)
            written = 0
            with target.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    written += len(chunk)
                    if written > request.max_bytes:
                        raise size_error(shown, written, request)
                    if time.monotonic() > deadline:
                        raise timeout_error(shown, request)
                    out.write(chunk)
    except requests.exceptions.SSLError as error:
        raise gha.StepError(
            f"TLS verification of {shown} failed ({first_line(error)}); if the server uses a private CA, "
            "point REQUESTS_CA_BUNDLE at its certificate bundle"
        ) from error
    except requests.exceptions.Timeout as error:
        raise timeout_error(shown, request) from error
    except requests.exceptions.ConnectionError as error:
        raise gha.StepError(
            f"could not connect to {shown} ({first_line(error)}); check the URL and that the host is "
            "reachable from this runner (proxy, firewall)"
        ) from error
    except requests.exceptions.RequestException as error:
        raise gha.StepError(f"downloading {shown} failed: {first_line(error)}") from error


def refuse_redirect_to_http(response: Any, *args: Any, **kwargs: Any) -> None:
    """A requests hook that stops a redirect to plain http before it is followed."""
    if response.is_redirect:
        target = urljoin(response.url, response.headers.get("Location", ""))
        if urlsplit(target).scheme != "https":
            response.close()  # raising from a hook leaves the streamed response open otherwise
            raise gha.StepError(
                f"{redact_url(response.url)} redirected to {redact_url(target)}, which is not https; "
                "refusing it (ask for the https:// address of the file)"
            )


def check_status(status: int, reason: str, shown: str) -> None:
    """Turn an HTTP error status into a message with the likely fix."""
    if status < 400:
        return
    if status == 404:
        raise gha.StepError(
            f"{shown} answered 404 Not Found; check the URL (and that the file was published)"
        )
    if status in {401, 403}:
        raise gha.StepError(
            f"{shown} answered {status} {reason}; the file needs credentials: use a pre-signed URL "
            "(for example a SAS URL) that grants read access"
        )
    raise gha.StepError(f"{shown} answered HTTP {status} {reason}; try again later or check the server")


def size_error(shown: str, size: int, request: FetchRequest) -> gha.StepError:
    """The error for a download over the size limit."""
    limit_mb = request.max_bytes / 1024 / 1024
    return gha.StepError(
        f"{shown} is larger than the limit of {limit_mb:g} MB (at least {size} bytes); raise input "
        "'max-size-mb' if this model really is that big"
    )


def timeout_error(shown: str, request: FetchRequest) -> gha.StepError:
    """The error for a download that took too long."""
    return gha.StepError(
        f"downloading {shown} did not finish within {request.timeout:g} s; check the server, or raise "
        "input 'timeout' for a big model on a slow link"
    )


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, capped, for one-line errors."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def fetch_local(request: FetchRequest) -> Fetched:
    """Copy a local model (file or folder) and its sidecars into the destination."""
    path = Path(request.model).expanduser()
    if not path.exists():
        raise gha.StepError(f"input 'model' ({request.model}) does not exist; check the path")
    if path.is_dir():
        model_file = pick_onnx(path, request.onnx_file, f"folder {path}")
    else:
        if request.onnx_file:
            raise gha.StepError(
                "input 'onnx-file' chooses a file inside a folder; input 'model' is already a file"
            )
        model_file = path
    folder = model_file.parent
    external = onnx_files.external_locations(model_file, str(model_file))
    previous = prepare_dest(request.dest, folder)
    config = read_sidecar_config(folder)
    partial = request.dest / _PARTIAL
    shutil.copyfile(model_file, partial)
    onnx_files.copy_external_data(folder, external, request.dest, str(model_file))
    stem = folder.name if model_file.stem == "model" else model_file.stem
    record = finish(
        request,
        partial,
        label=str(model_file),
        source="local",
        uri=str(model_file.resolve()),
        name=request.name or str(config.get("name") or stem),
        version=request.version or str(config.get("version") or DEFAULT_VERSION),
        previous=previous,
        external=external,
    )
    return Fetched(record, copy_sidecars(folder, request.dest), tuple(external))


def fetch_https(request: FetchRequest) -> Fetched:
    """Download a model from a URL into the destination."""
    query = urlsplit(request.model).query
    if query:
        gha.mask(query)  # a pre-signed URL's query is its credential
    previous = prepare_dest(request.dest, None)
    partial = request.dest / _PARTIAL
    try:
        download_https(request.model, partial, request)
    except gha.StepError:
        partial.unlink(missing_ok=True)
        raise
    shown = redact_url(request.model)
    if onnx_files.external_locations(partial, shown):
        partial.unlink()
        raise gha.StepError(
            f"{shown} keeps its weights in external-data files, which one URL cannot bring along; "
            "fetch the model's folder with source 'local' or 'azureml'"
        )
    stem = Path(urlsplit(request.model).path).stem or "model"
    record = finish(
        request,
        partial,
        label=shown,
        source="https",
        uri=shown,
        name=request.name or stem,
        version=request.version or DEFAULT_VERSION,
        previous=previous,
    )
    return Fetched(record, ())


def fetch_azureml(request: FetchRequest) -> Fetched:
    """Download a registered model from Azure ML (scripts.azureml) into the destination."""
    from scripts.azure_blob import Limits
    from scripts.azureml import AzureModelRef, download  # the Azure SDKs load slowly

    previous = prepare_dest(request.dest, None)
    staging = request.dest / _AZURE_STAGING
    staging.mkdir()
    try:
        ref = AzureModelRef(
            subscription_id=request.subscription_id,
            resource_group=request.resource_group,
            workspace=request.workspace,
            name=request.model_name,
            version=request.model_version,
            label=request.model_label,
        )
        downloaded = download(ref, staging, request.onnx_file, Limits(request.max_bytes, request.timeout))
        files = downloaded.files
        partial = request.dest / _PARTIAL
        shutil.move(files.onnx_path, partial)
        folder = files.onnx_path.parent
        for location in files.external:
            (request.dest / location).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder / location, request.dest / location)
        name, version = downloaded.name, downloaded.version
        record = finish(
            request,
            partial,
            label=f"Azure ML model {name} version {version}",
            previous=previous,
            external=files.external,
            source="azureml",
            uri=(
                f"azureml://subscriptions/{request.subscription_id}/resourcegroups/{request.resource_group}"
                f"/workspaces/{request.workspace}/models/{name}/versions/{version}"
            ),
            name=name,
            version=version,
            workspace=request.workspace,
            resource_group=request.resource_group,
            subscription_id=request.subscription_id,
            asset_id=downloaded.asset_id,
            created=downloaded.created or None,
            tags=dict(downloaded.tags),
        )
        sidecars = copy_sidecars(folder, request.dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Fetched(record, sidecars, files.external, files.downloaded_bytes, files.seconds)


def copy_sidecars(folder: Path, dest: Path) -> tuple[str, ...]:
    """Copy the optional sidecars (SIDECARS) found beside the model."""
    copied = []
    for name in SIDECARS:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, dest / name)
            copied.append(name)
    return tuple(copied)


def finish(
    request: FetchRequest,
    partial: Path,
    *,
    label: str,
    previous: Provenance | None,
    external: Sequence[str] = (),
    **fields: Any,
) -> Provenance:
    """Check the fetched file (sha256, ONNX, beside its external data), move it to `model.onnx`, write
    `provenance.json`."""
    try:
        digest = provenance.sha256_of(partial)
        if request.expected_sha256 and digest != request.expected_sha256:
            raise gha.StepError(
                f"the sha256 of {label} is {digest}, but input 'expected-sha256' is "
                f"{request.expected_sha256}; the model changed or the wrong file was given"
            )
        check_onnx(partial, label)
    except gha.StepError:
        partial.unlink(missing_ok=True)
        for location in external:
            (request.dest / location).unlink(missing_ok=True)
        raise
    partial.replace(request.dest / MODEL_FILE)
    record = Provenance(sha256=digest, fetched_at=provenance.utc_now(), **fields)
    if previous is not None and previous.same_model(record):
        record = previous  # same model from the same place: keep the folder byte-identical
    provenance.write(request.dest, record)
    return record


def fetch(request: FetchRequest) -> FetchResult:
    """Run the fetch for a checked request."""
    fetchers = {"local": fetch_local, "https": fetch_https, "azureml": fetch_azureml}
    fetched = fetchers[request.source](request)
    model_path = request.dest / MODEL_FILE
    return FetchResult(
        model_dir=request.dest.resolve(),
        model_path=model_path.resolve(),
        record=fetched.record,
        size_bytes=sum((request.dest / name).stat().st_size for name in (MODEL_FILE, *fetched.external)),
        sidecars=fetched.sidecars,
        external=fetched.external,
        downloaded_bytes=fetched.downloaded_bytes,
        download_seconds=fetched.download_seconds,
    )


def summary(result: FetchResult) -> str:
    """The verdict-first Markdown summary."""
    record = result.record
    rows = [
        ("source", f"{record.source} `{record.uri}`"),
        ("sha256", f"`{record.sha256}`"),
        ("size", f"{result.size_bytes:,} bytes"),
        ("folder", f"`{result.model_dir}`"),
        ("sidecars", ", ".join(f"`{name}`" for name in result.sidecars) or "none"),
        ("external data", ", ".join(f"`{name}`" for name in result.external) or "none"),
    ]
    if result.download_seconds is not None:
        rows.append(("download", download_rate(result.downloaded_bytes, result.download_seconds)))
    table = gha.key_value_table(rows)
    record_json = json.dumps(record.to_dict(), indent=2, sort_keys=True)
    return f"### ✅ Fetched model `{record.name}` version `{record.version}`\n\n{table}\n\n" + gha.details(
        "provenance.json", record_json, "json"
    )


def download_rate(size: int, seconds: float) -> str:
    """`12.3 MB in 4.0 s (3.1 MB/s)`."""
    rate = size / 1e6 / seconds if seconds > 0 else 0.0
    return f"{size / 1e6:.1f} MB in {seconds:.1f} s ({rate:.1f} MB/s)"


def build_parser() -> gha.StepParser:
    """The step's inputs (contract D)."""
    parser = gha.StepParser(prog="fetch", description=__doc__.splitlines()[0])
    parser.add_input("--source", help="local, https or azureml")
    model_inputs.add_model_inputs(parser, deprecated=True)
    parser.add_input(
        "--dest", default=DEFAULT_DEST, help=f"the model folder to write (default {DEFAULT_DEST})"
    )
    parser.add_input("--expected-sha256", help="fail unless the model's sha256 is this")
    parser.add_input("--onnx-file", help="which .onnx file of a folder or Azure ML asset to take")
    parser.add_input(
        "--timeout", default="300", help="seconds allowed for an https or azureml download (default 300)"
    )
    parser.add_input(
        "--max-size-mb",
        default="2048",
        help="largest model accepted over https or from azureml (default 2048)",
    )
    parser.add_flag("--allow-http", help="accept plain http:// URLs (local development servers only)")
    parser.add_input("--subscription-id", help="azureml: the Azure subscription id")
    parser.add_input("--resource-group", help="azureml: the workspace's resource group")
    parser.add_input("--workspace", help="azureml: the Azure ML workspace")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Fetch the model, write the folder, report outputs and summary."""
    args = build_parser().parse_args(argv)
    with gha.step_errors():
        request = check_request(args)
        result = fetch(request)
    gha.set_output("model-dir", result.model_dir)
    gha.set_output("model-file", result.model_path)
    gha.set_output("sha256", result.record.sha256)
    gha.set_output("model-name", result.record.name)
    gha.set_output("model-version", result.record.version)
    gha.set_output("provenance", result.model_dir / provenance.FILENAME)
    gha.add_summary(summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
