"""Fetch an ONNX model into a model folder (contract A): from a local path, an https:// URL or Azure ML.

The folder gets `model.onnx` (always that name), its external-data files, the sidecars
`modelship.json`, `samples.json` and `tokenizer.json` when the source has them beside the model, and
`provenance.json` (every file's sha256 and the folder digest), which the build step turns into labels.
This module is the step: its inputs (`add_inputs`, checked into a `fetch_request.FetchRequest`), one
module per source (`fetch_local`, `fetch_https`, `fetch_azureml`), the folder they write
(`fetched_folder`), and the typed `FetchResult` whose `outputs()` are the step's outputs. `run` does
the work; `report` writes the summary; `main` is the Actions and terminal edge around both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scripts import fetch_azureml, fetch_https, fetch_local, gha, model_inputs
from scripts.fetch_request import FetchRequest, check_request
from scripts.fetched_folder import DEFAULT_DEST, Fetched
from serving.model_folder import MODEL_FILE, PROVENANCE_FILE

SOURCES = {"local": fetch_local.fetch, "https": fetch_https.fetch, "azureml": fetch_azureml.fetch}


@dataclass(frozen=True)
class FetchResult:
    """What the fetch step produced: the folder, its model file and size, and what the source brought."""

    model_dir: Path
    model_path: Path
    size_bytes: int
    fetched: Fetched

    @property
    def passed(self) -> bool:
        """Always True: a fetch that fails raises `gha.StepError` instead."""
        return True

    def outputs(self) -> dict[str, str]:
        """The step's outputs, by their action names."""
        record = self.fetched.record
        return {
            "model-dir": str(self.model_dir),
            "model-file": str(self.model_path),
            "sha256": record.sha256,
            "folder-sha256": record.folder_sha256 or "",  # always set by fetched_folder
            "model-name": record.name,
            "model-version": record.version,
            "provenance": str(self.model_dir / PROVENANCE_FILE),
        }


def run(request: FetchRequest) -> FetchResult:
    """Run the fetch for a checked request (`fetch_request.check_request`)."""
    fetched = SOURCES[request.source](request)
    return FetchResult(
        model_dir=request.dest.resolve(),
        model_path=(request.dest / MODEL_FILE).resolve(),
        size_bytes=sum((request.dest / name).stat().st_size for name in (MODEL_FILE, *fetched.external)),
        fetched=fetched,
    )


def summary(result: FetchResult) -> str:
    """The verdict-first Markdown summary."""
    fetched = result.fetched
    record = fetched.record
    rows = [
        ("source", f"{record.source} `{record.uri}`"),
        ("sha256", f"`{record.sha256}`"),
        ("size", f"{result.size_bytes:,} bytes"),
        ("folder", f"`{result.model_dir}`"),
        ("folder digest", f"`{record.folder_sha256}`"),
        ("sidecars", ", ".join(f"`{name}`" for name in fetched.sidecars) or "none"),
        ("external data", ", ".join(f"`{name}`" for name in fetched.external) or "none"),
    ]
    if fetched.download_seconds is not None:
        rows.append(("download", download_rate(fetched.downloaded_bytes, fetched.download_seconds)))
    table = gha.key_value_table(rows)
    record_json = json.dumps(record.to_dict(), indent=2, sort_keys=True)
    return f"### ✅ Fetched model `{record.name}` version `{record.version}`\n\n{table}\n\n" + gha.details(
        "provenance.json", record_json, "json"
    )


def download_rate(size: int, seconds: float) -> str:
    """`12.3 MB in 4.0 s (3.1 MB/s)`."""
    rate = size / 1e6 / seconds if seconds > 0 else 0.0
    return f"{size / 1e6:.1f} MB in {seconds:.1f} s ({rate:.1f} MB/s)"


def report(result: FetchResult) -> None:
    """The person-facing edge: the summary."""
    gha.add_summary(summary(result))


def add_inputs(parser: gha.StepParser, *, source_default: str | None = None) -> None:
    """Add every input the fetch step reads (contract D); `fetch_request.check_request` checks them."""
    parser.add_input("--source", default=source_default, help="local, https or azureml")
    model_inputs.add_model_inputs(parser, deprecated=True)
    parser.add_input(
        "--dest", default=DEFAULT_DEST, help=f"the model folder to write (default {DEFAULT_DEST})"
    )
    parser.add_input(
        "--expected-sha256",
        help="fail unless this is the model's folder digest (or, for a model without external data, "
        "its .onnx file's sha256)",
    )
    parser.add_input("--onnx-file", help="which .onnx file of a folder or Azure ML asset to take")
    parser.add_input(
        "--timeout", default="300", help="seconds allowed for the model's download, all files (default 300)"
    )
    parser.add_input(
        "--max-size-mb",
        default="2048",
        help="largest model accepted, all its files together (default 2048)",
    )
    parser.add_flag("--allow-http", help="accept plain http:// URLs (local development servers only)")
    model_inputs.add_azure_inputs(parser)


def build_parser() -> gha.StepParser:
    """The step's command line: its inputs."""
    parser = gha.StepParser(prog="fetch", description=__doc__.splitlines()[0])
    add_inputs(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Fetch the model, write the folder, report outputs and summary."""
    args = build_parser().parse_args(argv)
    return gha.conclude(lambda: run(check_request(args)), report)


if __name__ == "__main__":
    raise SystemExit(main())
