"""The model's inputs, one vocabulary for the fetch step and the pipeline (and so for every front door).

`source` says where the model comes from, `model` is its file, folder or URL, and `model-name` and
`model-version` mean the model's name and version whatever the source: for azureml they choose
the registered model, for local and https they name it.
"""

from __future__ import annotations

import argparse

from scripts import gha

DEFAULT_VERSION = "0"
# Old names of the fetch step's inputs, kept for one release; they warn, naming the new input.
DEPRECATED = {"name": "model-name", "version": "model-version"}


def add_model_inputs(parser: gha.StepParser, *, deprecated: bool = False) -> None:
    """Add --model, --model-name, --model-version and --model-label (and the old names, when asked)."""
    parser.add_input(
        "--model",
        help="local: a .onnx file or a folder holding one; https: the URL; azureml: optionally the model's "
        "azureml:// URI",
    )
    parser.add_input(
        "--model-name",
        help="azureml: the registered model's name; local/https: the name to give it "
        "(default: modelship.json, then the file name)",
    )
    parser.add_input(
        "--model-version",
        help="azureml: the version, or latest (default); local/https: the version to give it "
        f"(default: modelship.json, then {DEFAULT_VERSION})",
    )
    parser.add_input("--model-label", help="azureml: a model label instead of a version")
    if deprecated:
        for old, new in DEPRECATED.items():
            parser.add_input(f"--{old}", help=f"deprecated: use --{new}")


def name_and_version(args: argparse.Namespace) -> tuple[str, str]:
    """The model's name and version as given ('' when not), the deprecated names warning when used."""
    given = {}
    for old, new in DEPRECATED.items():
        value = getattr(args, old) or ""
        if value:
            gha.annotate("warning", f"input '{old}' is deprecated and will be removed; use '{new}' instead")
        given[new] = getattr(args, new.replace("-", "_")) or value
    return given["model-name"], given["model-version"]
