"""The fetch step's inputs, checked before any work: one `FetchRequest`, or one error naming the input."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from scripts import azure_ref, gha, model_inputs, provenance
from scripts.azure_ref import AzureModelRef
from scripts.download_limits import Limits
from scripts.provenance import redact_url

# Inputs that only the azureml source reads, with their old names.
AZURE_ONLY = (*model_inputs.AZURE_INPUTS, *model_inputs.DEPRECATED_AZURE)


@dataclass(frozen=True)
class FetchRequest:
    """A checked fetch request: what to fetch, from where, within which limits, and where to put it."""

    source: str
    dest: Path
    model: str = ""  # local: a path; https: the URL
    expected_sha256: str | None = None
    name: str | None = None  # local/https: the name and version to give the model
    version: str | None = None
    onnx_file: str | None = None
    allow_http: bool = False
    limits: Limits = field(default_factory=lambda: Limits(2048 * 1024 * 1024, 300.0))
    azure: AzureModelRef | None = None  # azureml: which registered model


def normalize_sha256(value: str | None) -> str | None:
    """Accept `abc…`, `ABC…` or `sha256:abc…`; refuse anything that is not 64 hex digits."""
    if value is None or not value.strip():
        return None
    digest = value.strip().lower().removeprefix("sha256:")
    if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise gha.StepError(
            f"{gha.input_name('expected-sha256')} must be 64 hexadecimal digits (optionally prefixed "
            "'sha256:'), "
            f"not {value!r}"
        )
    return digest


def check_request(args: argparse.Namespace) -> FetchRequest:
    """Refuse invalid combinations of inputs before any work, naming the input at fault."""
    source = (args.source or "").strip().lower()
    if source not in provenance.SOURCES:
        raise gha.StepError(
            f"{gha.input_name('source')} must be one of {', '.join(provenance.SOURCES)}, not {args.source!r}"
        )
    request = FetchRequest(
        source=source,
        dest=Path(args.dest),
        model=(args.model or "").strip(),
        expected_sha256=normalize_sha256(args.expected_sha256),
        onnx_file=args.onnx_file or None,
        allow_http=bool(args.allow_http),
        limits=Limits(
            max_bytes=int(gha.positive_number(args.max_size_mb, "max-size-mb") * 1024 * 1024),
            timeout=gha.positive_number(args.timeout, "timeout"),
        ),
    )
    if source == "azureml":
        return check_azureml(args, request)
    given_azure = [name for name in AZURE_ONLY if getattr(args, name.replace("-", "_"))]
    if (args.azure_cloud or "AzureCloud") != "AzureCloud":
        given_azure.append("azure-cloud")
    if given_azure:
        names = ", ".join(gha.input_name(name) for name in given_azure)
        raise gha.StepError(f"{names} only applies to source 'azureml', not to source '{source}'")
    model = request.model
    if not model:
        what = (
            "the path of a .onnx file or of a folder holding one" if source == "local" else "an https:// URL"
        )
        raise gha.StepError(f"source '{source}' needs {gha.input_name('model')}: {what}")
    scheme = urlsplit(model).scheme.lower()
    if source == "local" and scheme in {"http", "https"}:
        raise gha.StepError(
            f"{gha.input_name('model')} is a URL ({redact_url(model)}); use source 'https' for URLs"
        )
    if source == "https":
        if scheme == "http" and not args.allow_http:
            raise gha.StepError(
                f"{gha.input_name('model')} is a plain http:// URL ({redact_url(model)}); models are "
                "fetched over "
                "https:// only (allow-http exists for local development servers)"
            )
        if scheme not in {"http", "https"}:
            raise gha.StepError(
                f"source 'https' needs an https:// URL as {gha.input_name('model')}, not {model!r}"
            )
    name, version = model_inputs.name_and_version(args)
    return replace(request, name=name or None, version=version or None)


def check_azureml(args: argparse.Namespace, request: FetchRequest) -> FetchRequest:
    """The Azure ML half of `check_request`: the model's coordinates, or its azureml:// URI in 'model'."""
    if args.name or args.version:
        raise gha.StepError(
            f"{gha.input_name('name')} and {gha.input_name('version')} only apply to sources 'local' and "
            "'https'; an Azure ML model "
            "keeps its registered name and version (choose it with 'model-name' and 'model-version')"
        )
    subscription_id, resource_group, workspace = model_inputs.azure_workspace(args)
    ref = AzureModelRef(
        name=args.model_name or "",
        version=args.model_version or "latest",
        label=args.model_label or None,
        subscription_id=subscription_id,
        resource_group=resource_group,
        workspace=workspace,
        registry=args.model_registry or "",
        cloud=args.azure_cloud or "AzureCloud",
    )
    if request.model:
        ref = azure_ref.merge_uri(ref, request.model)
    return replace(request, model="", azure=azure_ref.check_ref(ref))
