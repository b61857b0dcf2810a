"""OCI labels from provenance: the standard keys, the model keys, Azure ML extras, a stable `created`."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scripts import gha
from scripts.labels import created_time, image_labels
from scripts.provenance import Provenance

LOCAL = Provenance(
    source="local",
    uri="/work/examples/housing/model.onnx",
    name="housing",
    version="1.2.3",
    sha256="ab" * 32,
    fetched_at="2026-11-21T10:00:00Z",
)
AZURE = Provenance(
    source="azureml",
    uri="azureml://subscriptions/s/resourcegroups/rg/workspaces/ws/models/churn/versions/5",
    name="churn",
    version="5",
    sha256="cd" * 32,
    fetched_at="2026-11-21T10:00:00Z",
    workspace="ws",
    resource_group="rg",
    subscription_id="s",
    asset_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/models/churn/versions/5",
    created="2026-01-01T00:00:00Z",
    tags={"team": "ml"},
)


def test_local_model_labels() -> None:
    labels = image_labels(
        LOCAL, created="2026-11-21T10:00:00Z", source_url="https://github.com/acme/models", revision="abc123"
    )
    assert labels == {
        "org.opencontainers.image.title": "housing",
        "org.opencontainers.image.description": "ONNX model housing version 1.2.3, served by modelship",
        "org.opencontainers.image.version": "1.2.3",
        "org.opencontainers.image.created": "2026-11-21T10:00:00Z",
        "org.opencontainers.image.source": "https://github.com/acme/models",
        "org.opencontainers.image.revision": "abc123",
        "ai.modelship.model.name": "housing",
        "ai.modelship.model.version": "1.2.3",
        "ai.modelship.model.sha256": "ab" * 32,
        "ai.modelship.model.source": "local",
        "ai.modelship.model.uri": "/work/examples/housing/model.onnx",
    }


def test_azureml_model_labels_add_workspace_and_asset() -> None:
    labels = image_labels(AZURE, created="2026-11-21T10:00:00Z")
    assert labels["ai.modelship.model.source"] == "azureml"
    assert labels["ai.modelship.model.workspace"] == "ws"
    assert labels["ai.modelship.model.resource-group"] == "rg"
    assert labels["ai.modelship.model.asset-id"] == AZURE.asset_id
    assert labels["ai.modelship.model.uri"] == AZURE.uri


def test_the_folder_digest_is_a_label_beside_the_model_s_sha256() -> None:
    folder = replace(
        LOCAL, files={"model.onnx": "ab" * 32, "modelship.json": "ef" * 32}, folder_sha256="12" * 32
    )
    labels = image_labels(folder, created="2026-11-21T10:00:00Z")
    assert labels["ai.modelship.model.folder-sha256"] == "12" * 32
    assert labels["ai.modelship.model.sha256"] == "ab" * 32
    assert "ai.modelship.model.folder-sha256" not in image_labels(LOCAL, created="2026-11-21T10:00:00Z")


def test_empty_values_are_left_out() -> None:
    labels = image_labels(LOCAL, created="2026-11-21T10:00:00Z")
    assert "org.opencontainers.image.source" not in labels
    assert "org.opencontainers.image.revision" not in labels
    assert all(labels.values())


def test_uri_credentials_never_reach_a_label() -> None:
    record = Provenance(
        source="https",
        uri="https://user:pw@store.example/m.onnx?sv=2024&sig=SECRET",
        name="m",
        version="1",
        sha256="ef" * 32,
        fetched_at="2026-11-21T10:00:00Z",
    )
    labels = image_labels(record, created="x")
    assert labels["ai.modelship.model.uri"] == "https://store.example/m.onnx"
    assert not any("SECRET" in value or "pw" in value for value in labels.values())


def test_labels_keys_follow_docker_key_rules() -> None:
    for key in image_labels(AZURE, created="c", source_url="u", revision="r"):
        assert key == key.lower()
        assert set(key) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-")


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        pytest.param(None, "2026-11-21T10:00:00Z", id="unset-uses-fetch-time"),
        pytest.param("", "2026-11-21T10:00:00Z", id="empty-uses-fetch-time"),
        pytest.param("0", "1970-01-01T00:00:00Z", id="epoch-zero"),
        pytest.param("1700000000", "2023-11-14T22:13:20Z", id="source-date-epoch"),
    ],
)
def test_created_time(epoch: str | None, expected: str) -> None:
    assert created_time(epoch, "2026-11-21T10:00:00Z") == expected


@pytest.mark.parametrize(
    ("epoch", "commit_epoch", "expected"),
    [
        pytest.param(None, "1700000000", "2023-11-14T22:13:20Z", id="commit-time-over-fetch-time"),
        pytest.param("0", "1700000000", "1970-01-01T00:00:00Z", id="source-date-epoch-over-commit-time"),
        pytest.param(None, "", "2026-11-21T10:00:00Z", id="no-commit-falls-back-to-fetch-time"),
    ],
)
def test_created_time_prefers_the_commit_to_the_fetch(
    epoch: str | None, commit_epoch: str, expected: str
) -> None:
    assert created_time(epoch, "2026-11-21T10:00:00Z", commit_epoch) == expected


def test_created_time_refuses_a_bad_epoch() -> None:
    with pytest.raises(gha.StepError, match="SOURCE_DATE_EPOCH must be whole seconds"):
        created_time("yesterday", "2026-11-21T10:00:00Z")
