"""Image references (scripts.image_ref): the distribution grammar, Docker's registry rule, the spelling."""

from __future__ import annotations

import pytest

from scripts.gha import StepError
from scripts.image_ref import ImageRef, parse_ref

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("python", ImageRef("docker.io", "library/python"), id="hub-official"),
        pytest.param("team/model:1.0", ImageRef("docker.io", "team/model", "1.0"), id="hub-user"),
        pytest.param("index.docker.io/team/m:1", ImageRef("docker.io", "team/m", "1"), id="hub-legacy-host"),
        pytest.param(
            "127.0.0.1:5000/team/model:v1", ImageRef("127.0.0.1:5000", "team/model", "v1"), id="host-port"
        ),
        pytest.param("localhost/model:latest", ImageRef("localhost", "model", "latest"), id="localhost"),
        pytest.param("registry:5000/model", ImageRef("registry:5000", "model"), id="dotless-host-with-port"),
        pytest.param("Registry/model", ImageRef("Registry", "model"), id="uppercase-first-is-a-host"),
        pytest.param("[::1]:5000/model:2", ImageRef("[::1]:5000", "model", "2"), id="ipv6-host"),
        pytest.param(
            f"ghcr.io/org/a/b@{DIGEST}", ImageRef("ghcr.io", "org/a/b", "", DIGEST), id="digest-nested"
        ),
        pytest.param(
            f"myreg.azurecr.io/m:2@{DIGEST}",
            ImageRef("myreg.azurecr.io", "m", "2", DIGEST),
            id="tag-and-digest",
        ),
        pytest.param("ghcr.io/o/m:Tag_1.x-Y", ImageRef("ghcr.io", "o/m", "Tag_1.x-Y"), id="tag-mixed-case"),
        pytest.param("ghcr.io/a__b/c---d", ImageRef("ghcr.io", "a__b/c---d"), id="separators"),
    ],
)
def test_parse_ref(ref: str, expected: ImageRef) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "complaint"),
    [
        pytest.param("ghcr.io/Org/Model:1", "must be lowercase", id="uppercase-repo"),
        pytest.param("ghcr.io/org/model:.bad", "tag '.bad'", id="tag-starts-with-dot"),
        pytest.param("ghcr.io/org/model:" + "x" * 129, "1-128", id="tag-too-long"),
        pytest.param("ghcr.io/org/model:t\u00e9", "tag 't\u00e9'", id="tag-not-ascii"),
        pytest.param("ghcr.io/org/model@sha256:abc", "not <algorithm>:<hex>", id="short-digest"),
        pytest.param("ghcr.io/org//model:1", "repository 'org//model'", id="empty-component"),
        pytest.param("ghcr.io/a___b", "repository 'a___b'", id="three-underscores"),
        pytest.param("-bad.io/model", "registry host '-bad.io'", id="host-leading-dash"),
        pytest.param("ghcr.io/" + "a" * 256, "longer than 255", id="name-too-long"),
    ],
)
def test_parse_ref_refuses(ref: str, complaint: str) -> None:
    with pytest.raises(StepError, match=f"image reference '{ref[:20]}") as caught:
        parse_ref(ref)
    assert complaint in str(caught.value)


def test_parse_ref_names_the_input_in_its_error() -> None:
    with pytest.raises(
        StepError, match=r"^input 'tags' holds 'ghcr.io/Team/x:1' is not valid: repository 'Team/x'"
    ) as caught:
        parse_ref("ghcr.io/Team/x:1", "input 'tags' holds")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "spelled", "name"),
    [
        pytest.param("housing", "housing", "docker.io/library/housing", id="official"),
        pytest.param(
            "docker.io/library/housing:1", "housing:1", "docker.io/library/housing", id="hub-spelled-out"
        ),
        pytest.param("team/housing:1", "team/housing:1", "docker.io/team/housing", id="hub-user"),
        pytest.param("library/a/b:1", "library/a/b:1", "docker.io/library/a/b", id="library-with-depth"),
        pytest.param(
            f"127.0.0.1:5000/t/h:1@{DIGEST}",
            f"127.0.0.1:5000/t/h:1@{DIGEST}",
            "127.0.0.1:5000/t/h",
            id="host",
        ),
    ],
)
def test_str_is_dockers_spelling_and_name_is_qualified(text: str, spelled: str, name: str) -> None:
    ref = parse_ref(text)
    assert (str(ref), ref.name) == (spelled, name)
    assert parse_ref(str(ref)) == ref


def test_with_tag_replaces_tag_and_digest() -> None:
    ref = parse_ref(f"ghcr.io/o/m:1@{DIGEST}")
    assert str(ref.with_tag("latest")) == "ghcr.io/o/m:latest"
