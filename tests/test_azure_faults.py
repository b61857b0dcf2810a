"""The one-line causes of Azure sign-in failures, and that no token reaches a message."""

from __future__ import annotations

import pytest

from scripts import azure_faults
from tests.azureml.standin import ACCESS_TOKEN


def test_sign_in_message_without_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in azure_faults.CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    error = RuntimeError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential authentication unavailable.\n"
        "\tAzureCliCredential: Please run 'az login' to set up an account\n"
    )
    message = azure_faults.sign_in_message(error)
    assert (
        "EnvironmentCredential authentication unavailable.; AzureCliCredential: Please run 'az login'"
        in message
    )
    assert "Variables set: none; not set: AZURE_CLIENT_ID, AZURE_TENANT_ID" in message


def test_tokens_never_reach_a_message() -> None:
    assert ACCESS_TOKEN not in azure_faults.first_line(RuntimeError(f"bad token {ACCESS_TOKEN} refused"))


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AuthorizationFailure", 403, "firewall or private endpoint"),
        ("KeyBasedAuthenticationNotPermitted", 403, "shared-key access turned off"),
        ("ServerBusy", 503, "kept answering HTTP 503 (ServerBusy) after the retries"),
        ("SomethingNew", 403, "refused the download (403 SomethingNew)"),
    ],
)
def test_storage_causes(code: str, status: int, expected: str) -> None:
    assert expected in azure_faults.storage_cause(code, status, "acct", "detail")
