"""The model's inputs: one set of names for the fetch step and the pipeline, old names warning."""

from __future__ import annotations

import pytest

from scripts import gha, model_inputs


def parse(*argv: str) -> tuple[str, str]:
    parser = gha.StepParser(prog="test")
    model_inputs.add_model_inputs(parser, deprecated=True)
    return model_inputs.name_and_version(parser.parse_args(list(argv)))


@pytest.mark.parametrize(
    ("argv", "expected", "warnings"),
    [
        pytest.param([], ("", ""), [], id="neither"),
        pytest.param(["--model-name", "a", "--model-version", "2"], ("a", "2"), [], id="new-names"),
        pytest.param(["--name", "a", "--version", "2"], ("a", "2"), ["name", "version"], id="old-names"),
        pytest.param(["--model-name", "a", "--name", "b"], ("a", ""), ["name"], id="new-name-wins"),
    ],
)
def test_name_and_version_take_the_new_names_and_warn_on_the_old(
    argv: list[str], expected: tuple[str, str], warnings: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse(*argv) == expected
    err = capsys.readouterr().err
    for old, new in model_inputs.DEPRECATED.items():
        warning = f"warning: input '{old}' is deprecated and will be removed; use '{new}' instead"
        assert (warning in err) is (old in warnings)


def test_the_old_names_exist_only_where_asked_for() -> None:
    parser = gha.StepParser(prog="test")
    model_inputs.add_model_inputs(parser)
    options = {option for action in parser._actions for option in action.option_strings}
    assert {"--model", "--model-name", "--model-version", "--model-label"} <= options
    assert not options & {"--name", "--version"}


def workspace(*argv: str) -> tuple[str, str, str]:
    parser = gha.StepParser(prog="test")
    model_inputs.add_azure_inputs(parser)
    return model_inputs.azure_workspace(parser.parse_args(list(argv)))


@pytest.mark.parametrize(
    ("argv", "expected", "warnings"),
    [
        pytest.param([], ("", "", ""), [], id="none"),
        pytest.param(
            ["--azure-subscription-id", "s", "--azure-resource-group", "g", "--azure-workspace", "w"],
            ("s", "g", "w"),
            [],
            id="new-names",
        ),
        pytest.param(
            ["--subscription-id", "s", "--resource-group", "g", "--workspace", "w"],
            ("s", "g", "w"),
            ["subscription-id", "resource-group", "workspace"],
            id="old-names",
        ),
        pytest.param(
            ["--azure-workspace", "w", "--workspace", "x"], ("", "", "w"), ["workspace"], id="new-wins"
        ),
    ],
)
def test_the_workspace_takes_the_azure_names_and_warns_on_the_old(
    argv: list[str], expected: tuple[str, str, str], warnings: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert workspace(*argv) == expected
    err = capsys.readouterr().err
    for old, new in model_inputs.DEPRECATED_AZURE.items():
        warning = f"warning: input '{old}' is deprecated and will be removed; use '{new}' instead"
        assert (warning in err) is (old in warnings)


def test_the_workspace_inputs_come_from_the_actions_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_AZURE_SUBSCRIPTION_ID", "s")
    monkeypatch.setenv("INPUT_RESOURCE_GROUP", "g")  # an old name, as actions/fetch passes it
    monkeypatch.setenv("INPUT_AZURE_WORKSPACE", "w")
    assert workspace() == ("s", "g", "w")
