"""Tag computation: semver expansion, git refs, sha, explicit tags, `latest`, sanitizing, image names."""

from __future__ import annotations

import pytest

from scripts import gha
from scripts.tags import check_image_name, compute_tags, full_refs, sanitize

SHA = "ABC1234def5678901234567890abcdef12345678"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"model_version": "1.2.3"}, ["1.2.3", "1.2", "1"], id="semver-expands"),
        pytest.param({"model_version": "v2.0.10"}, ["2.0.10", "2.0", "2"], id="semver-v-prefix"),
        pytest.param({"model_version": "0.4.1"}, ["0.4.1", "0.4"], id="zero-major-has-no-bare-0"),
        pytest.param({"model_version": "1.2.3-rc.1"}, ["1.2.3-rc.1"], id="prerelease-only-itself"),
        pytest.param({"model_version": "1.2.3+build.7"}, ["1.2.3_build.7"], id="build-metadata-underscore"),
        pytest.param({"model_version": "5"}, ["5"], id="azureml-integer-version"),
        pytest.param({"model_version": "1.2"}, ["1.2"], id="two-part-is-not-semver"),
        pytest.param({"model_version": "01.2.3"}, ["01.2.3"], id="leading-zero-is-not-semver"),
        pytest.param({"model_version": "2024-01 Final!"}, ["2024-01-final"], id="non-semver-sanitized"),
        pytest.param({"model_version": "  "}, [], id="blank-version-gives-nothing"),
        pytest.param(
            {"model_version": "1", "git_ref": "refs/heads/main"}, ["1", "main", "latest"], id="default-branch"
        ),
        pytest.param(
            {"model_version": "1", "git_ref": "refs/heads/develop"}, ["1", "develop"], id="other-branch"
        ),
        pytest.param(
            {"model_version": "1", "git_ref": "refs/heads/trunk", "default_branch": "trunk"},
            ["1", "trunk", "latest"],
            id="custom-default-branch",
        ),
        pytest.param(
            {"model_version": "1", "git_ref": "refs/heads/main", "default_branch": "trunk"},
            ["1", "main"],
            id="main-is-not-default-here",
        ),
        pytest.param(
            {"model_version": "1", "git_ref": "refs/heads/Feature/JIRA-12_new.model"},
            ["1", "feature-jira-12_new.model"],
            id="branch-sanitized",
        ),
        pytest.param(
            {"model_version": "1", "git_ref": "main"}, ["1", "main", "latest"], id="bare-branch-name"
        ),
        pytest.param(
            {"model_version": "3", "git_ref": "refs/tags/v1.2.3"},
            ["3", "1.2.3", "1.2", "1"],
            id="git-semver-tag",
        ),
        pytest.param(
            {"model_version": "1.2.3", "git_ref": "refs/tags/v1.2.3"},
            ["1.2.3", "1.2", "1"],
            id="same-version-deduplicated",
        ),
        pytest.param(
            {"model_version": "3", "git_ref": "refs/tags/Release_Candidate"},
            ["3", "release_candidate"],
            id="git-non-semver-tag",
        ),
        pytest.param(
            {"model_version": "3", "git_ref": "refs/tags/v2.0.0-beta.2"},
            ["3", "2.0.0-beta.2"],
            id="git-prerelease-tag",
        ),
        pytest.param(
            {"model_version": "3", "git_ref": "refs/pull/42/merge"}, ["3", "pr-42"], id="pull-request"
        ),
        pytest.param({"model_version": "3", "git_sha": SHA}, ["3", "sha-abc1234"], id="short-sha-lowercase"),
        pytest.param(
            {"model_version": "3", "explicit": ["Stable", "canary"]}, ["3", "stable", "canary"], id="explicit"
        ),
        pytest.param(
            {"model_version": "3", "explicit": ["latest"], "git_ref": "refs/heads/dev"},
            ["3", "dev", "latest"],
            id="explicit-latest-allowed",
        ),
        pytest.param(
            {
                "model_version": "1.0.0",
                "git_ref": "refs/heads/main",
                "git_sha": SHA,
                "explicit": ["latest", "1.0", "prod"],
            },
            ["1.0.0", "1.0", "1", "main", "sha-abc1234", "prod", "latest"],
            id="everything-deduplicated-latest-last",
        ),
        pytest.param({"model_version": "x" * 300}, ["x" * 128], id="truncated-to-128"),
        pytest.param({"model_version": "...-hidden"}, ["hidden"], id="no-leading-dot-or-dash"),
    ],
)
def test_compute_tags(kwargs: dict[str, object], expected: list[str]) -> None:
    assert compute_tags(**kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "ref"),
    [
        pytest.param("Ünïcödé ✓ model", "refs/heads/ÄÖ/über", id="unicode"),
        pytest.param("a" * 500, "refs/heads/" + "B-" * 300, id="very-long"),
        pytest.param("--..__", "refs/heads/-.-", id="only-separators"),
    ],
)
def test_every_computed_tag_is_a_valid_docker_tag(version: str, ref: str) -> None:
    tags = compute_tags(model_version=version, git_ref=ref, git_sha=SHA)
    assert tags
    for tag in tags:
        assert 0 < len(tag) <= 128
        assert tag == tag.lower()
        assert tag[0] not in ".-"
        assert set(tag) <= set("abcdefghijklmnopqrstuvwxyz0123456789_.-")
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        pytest.param("has space", "not a valid tag", id="space"),
        pytest.param(".hidden", "not a valid tag", id="leading-dot"),
        pytest.param("x" * 129, "not a valid tag", id="too-long"),
        pytest.param("repo:tag", "give tags only", id="full-ref"),
        pytest.param("team/housing", "give tags only", id="slash"),
    ],
)
def test_invalid_explicit_tags_are_refused(tag: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_TAGS", tag)  # given as the step's input: the message names the input
    with pytest.raises(gha.StepError, match=message) as error:
        compute_tags(model_version="1", explicit=[tag])
    assert str(error.value).startswith(f"input 'tags' holds {tag!r}")
    monkeypatch.delenv("INPUT_TAGS")  # given on a terminal: the message names the flag
    with pytest.raises(gha.StepError, match=message) as error:
        compute_tags(model_version="1", explicit=[tag])
    assert str(error.value).startswith(f"--tags holds {tag!r}")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("housing", id="plain"),
        pytest.param("team/housing", id="namespace"),
        pytest.param("127.0.0.1:5000/team/housing", id="registry-with-port"),
        pytest.param("localhost:5000/housing", id="localhost"),
        pytest.param("ghcr.io/acme-corp/models/housing_v2", id="ghcr-deep"),
        pytest.param("Registry.Example.com/team/housing", id="uppercase-host-ok"),
    ],
)
def test_valid_image_names(name: str) -> None:
    assert str(check_image_name(name)) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("", "is required", id="empty"),
        pytest.param("housing:1.0", "must not carry a tag or digest", id="with-tag"),
        pytest.param("127.0.0.1:5000/housing:1", "must not carry a tag or digest", id="registry-and-tag"),
        pytest.param("housing@sha256:abcd", "must not carry a tag or digest", id="digest"),
        pytest.param("Team/Housing", r"not a valid repository name \(try team/housing\)", id="uppercase"),
        pytest.param("team//housing", "not a valid repository name", id="double-slash"),
        pytest.param("team/-housing", "not a valid repository name", id="leading-dash"),
    ],
)
def test_invalid_image_names(name: str, message: str) -> None:
    with pytest.raises(gha.StepError, match=message):
        check_image_name(name)


def test_full_refs_keep_a_registry_port() -> None:
    refs = full_refs(check_image_name("127.0.0.1:5000/team/housing"), ["1", "latest"])
    assert [str(ref) for ref in refs] == [
        "127.0.0.1:5000/team/housing:1",
        "127.0.0.1:5000/team/housing:latest",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Feature/X", "feature-x", id="slash-and-case"),
        pytest.param("a  b", "a-b", id="runs-collapse"),
        pytest.param("keep_this.and-that", "keep_this.and-that", id="valid-kept"),
        pytest.param("trailing/", "trailing", id="no-trailing-dash"),
    ],
)
def test_sanitize(text: str, expected: str) -> None:
    assert sanitize(text) == expected
