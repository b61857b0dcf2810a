"""The model's inputs, one vocabulary for the fetch step and the pipeline (and so for every front door).

`source` says where the model comes from, `model` is its file, folder or URL, and `model-name` and
`model-version` mean the model's name and version whatever the source: for azureml they choose
the registered model, for local and https they name it. An Azure ML model lives in a workspace
(`azure-subscription-id`, `azure-resource-group`, `azure-workspace`, the names azure/login's
vocabulary and the front doors' `azure-cloud` share) or in a `model-registry`.
"""

from __future__ import annotations

import argparse

from scripts import gha

DEFAULT_VERSION = "0"
# Old names, kept for one release; they warn, naming the new input. The fetch step had `name` and
# `version`; the fetch step and the pipeline had the workspace's coordinates without `azure-`.
DEPRECATED_MODEL = {"name": "model-name", "version": "model-version"}
DEPRECATED_AZURE = {
    "subscription-id": "azure-subscription-id",
    "resource-group": "azure-resource-group",
    "workspace": "azure-workspace",
}
DEPRECATED = {**DEPRECATED_MODEL, **DEPRECATED_AZURE}
# Where an Azure ML model lives, with each input's help.
WHERE_IN_AZURE = {
    "azure-subscription-id": "azureml: the workspace's Azure subscription id",
    "azure-resource-group": "azureml: the workspace's resource group",
    "azure-workspace": "azureml: the Azure ML workspace",
    "model-registry": "azureml: an Azure ML registry to read the model from instead",
    "azure-cloud": "azureml: AzureCloud (default), AzureChinaCloud or AzureUSGovernment",
}
# The inputs only the azureml source reads (azure-cloud aside: it has a default).
AZURE_INPUTS = (*DEPRECATED_AZURE.values(), "model-registry", "model-label")


def add_deprecated(parser: gha.StepParser, names: dict[str, str]) -> None:
    """Add the old names, each saying which input replaces it."""
    for old, new in names.items():
        parser.add_input(f"--{old}", help=f"deprecated: use --{new}")


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
        add_deprecated(parser, DEPRECATED_MODEL)


def add_azure_inputs(parser: gha.StepParser) -> None:
    """Add where an Azure ML model lives: a workspace's coordinates or a registry, and the cloud."""
    for name, help_text in WHERE_IN_AZURE.items():
        parser.add_input(f"--{name}", help=help_text)
    add_deprecated(parser, DEPRECATED_AZURE)


def given(args: argparse.Namespace, new: str) -> str:
    """Input `new` as given ('' when not), else its deprecated name's value, which warns."""
    old = next(old for old, successor in DEPRECATED.items() if successor == new)
    value = getattr(args, old.replace("-", "_")) or ""
    if value:
        gha.annotate("warning", f"input '{old}' is deprecated and will be removed; use '{new}' instead")
    return getattr(args, new.replace("-", "_")) or value


def name_and_version(args: argparse.Namespace) -> tuple[str, str]:
    """The model's name and version as given ('' when not), the deprecated names warning when used."""
    return given(args, "model-name"), given(args, "model-version")


def azure_workspace(args: argparse.Namespace) -> tuple[str, str, str]:
    """The workspace's subscription id, resource group and name as given, old names warning."""
    return (
        given(args, "azure-subscription-id"),
        given(args, "azure-resource-group"),
        given(args, "azure-workspace"),
    )
