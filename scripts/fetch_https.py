"""The https source of the fetch step: a model's URL, and the files beside it at the same address.

The URL names the ONNX file. The files a model folder may hold beside it are fetched from the same
base URL (the URL's query, such as a container SAS, is kept for each):
- the external-data files the graph names (read from it with `onnx`) are required: the model cannot
  load without them;
- when the URL's path ends in `.onnx`, the sidecars `modelship.json`, `samples.json` and
  `tokenizer.json` are optional: a 404 means the model has none (a 401/403 too, with a warning, for
  a pre-signed URL that grants one file only).
All of them share one size cap and one deadline (`max-size-mb`, `timeout`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from scripts import fetched_folder, gha, onnx_files
from scripts.download_limits import Transfer
from scripts.fetch_request import FetchRequest
from scripts.fetched_folder import PARTIAL, Fetched
from scripts.model_inputs import DEFAULT_VERSION
from scripts.provenance import redact_url
from serving.model_folder import SIDECARS

CHUNK = 1024 * 1024


def sibling(url: str, name: str) -> str:
    """The URL of `name` beside the file `url` names, with the same query."""
    parts = urlsplit(url)
    path = urljoin(parts.path, quote(name))
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def fetch(request: FetchRequest) -> Fetched:
    """Download a model, its external data and its sidecars from their URLs into the destination."""
    query = urlsplit(request.model).query
    if query:
        gha.mask(query)  # a pre-signed URL's query is its credential
    dest = request.dest
    previous = fetched_folder.prepare_dest(dest, None)
    shown = redact_url(request.model)
    transfer = Transfer(request.limits, where=urlsplit(request.model).netloc)
    external: list[str] = []
    sidecars: list[str] = []
    try:
        download(request.model, dest / PARTIAL, request, transfer)
        external = onnx_files.external_locations(dest / PARTIAL, shown)
        for location in external:
            try:
                download(sibling(request.model, location), dest / location, request, transfer)
            except gha.StepError as error:
                raise gha.StepError(f"{shown} keeps its weights in {location!r} beside it: {error}") from None
        if urlsplit(request.model).path.lower().endswith(".onnx"):
            sidecars = [name for name in SIDECARS if fetch_sidecar(request, name, transfer)]
    except gha.StepError:
        fetched_folder.discard(dest, (*external, *SIDECARS))
        raise
    stem = Path(urlsplit(request.model).path).stem or "model"
    record = fetched_folder.finish(
        dest,
        dest / PARTIAL,
        request.expected_sha256,
        label=shown,
        previous=previous,
        external=external,
        sidecars=sidecars,
        source="https",
        uri=shown,
        name=request.name or stem,
        version=request.version or DEFAULT_VERSION,
    )
    return Fetched(record, tuple(sidecars), tuple(external), transfer.total, transfer.seconds())


def fetch_sidecar(request: FetchRequest, name: str, transfer: Transfer) -> bool:
    """Download the optional sidecar `name` from beside the model; False when the server has none."""
    url = sibling(request.model, name)
    target = request.dest / name
    if not download(url, target, request, transfer, optional=True):
        return False
    try:
        json.loads(target.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise gha.StepError(
            f"{redact_url(url)} answered, but not with JSON (an HTML page for a missing file?); serve the "
            f"model's {name} there, or answer 404 when it has none"
        ) from None
    return True


def download(
    url: str, target: Path, request: FetchRequest, transfer: Transfer, *, optional: bool = False
) -> bool:
    """Stream a URL to `target` within the transfer's limits, one clear error per failure; with
    `optional`, False (and nothing written) when the server has no such file."""
    import requests

    shown = redact_url(url)
    try:
        hooks = {"response": [] if request.allow_http else [refuse_redirect_to_http]}
        timeout = max(0.1, min(transfer.remaining(), 30.0))
        with requests.get(url, stream=True, timeout=timeout, hooks=hooks) as response:
            if optional and response.status_code in {401, 403, 404}:
                if response.status_code != 404:
                    gha.annotate(
                        "warning",
                        f"{shown} answered {response.status_code}; fetching the model without it (if the "
                        "model has one, use a URL whose query grants the whole folder, e.g. a container SAS)",
                    )
                return False
            check_status(response.status_code, response.reason, shown)
            length = response.headers.get("Content-Length", "")
            if length.isdigit():
                transfer.expect(int(length), shown)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                for chunk in response.iter_content(CHUNK):
                    transfer.add(len(chunk), shown)
                    out.write(chunk)
    except requests.exceptions.Timeout as error:
        raise transfer.timeout_error(shown) from error
    except requests.exceptions.RequestException as error:
        raise gha.StepError(request_failure(error, shown)) from error
    return True


def request_failure(error: Exception, shown: str) -> str:
    """What went wrong with a request that got no answer, and what to do."""
    import requests

    detail = gha.first_line(error)
    if isinstance(error, requests.exceptions.SSLError):  # a ConnectionError too: this test comes first
        return (
            f"TLS verification of {shown} failed ({detail}); if the server uses a private CA, "
            "point REQUESTS_CA_BUNDLE at its certificate bundle"
        )
    if isinstance(error, requests.exceptions.ConnectionError):
        return (
            f"could not connect to {shown} ({detail}); check the URL and that the host is reachable from "
            "this runner (proxy, firewall)"
        )
    return f"downloading {shown} failed: {detail}"


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
