"""The push step: ref parsing, error classification, and real pushes to a registry with auth."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from scripts import push
from scripts.gha import StepError
from scripts.image_ref import ImageRef
from scripts.registry import RegistryAPI
from tests.registry import Registry, free_port
from tests.registry import token_front as token_front  # a fixture; `as` marks it used
from tests.steps import StepRun, run_step

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("tags", "complaint"),
    [
        pytest.param([], "no tags given", id="none"),
        pytest.param(["ghcr.io/org/m"], "must end with ':<tag>'", id="no-tag"),
        pytest.param([f"ghcr.io/org/m@{DIGEST}"], "must end with ':<tag>'", id="digest-only"),
        pytest.param(["ghcr.io/org/m:1", "quay.io/org/m:1"], "different registries", id="two-registries"),
        pytest.param(
            ["ghcr.io/Org/m:1"], "--tags holds 'ghcr.io/Org/m:1' is not valid", id="names-the-input"
        ),
    ],
)
def test_bad_tags_are_refused_without_main(
    tags: list[str], complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_PASSWORD", raising=False)
    with pytest.raises(StepError, match=complaint):
        push.request("img:1", push.parse_push_refs(tags))


def test_parse_push_refs_keeps_order() -> None:
    refs = push.parse_push_refs(["ghcr.io/org/m:1", "ghcr.io/org/m:latest", "ghcr.io/org/other:1"])
    assert [str(ref) for ref in refs] == ["ghcr.io/org/m:1", "ghcr.io/org/m:latest", "ghcr.io/org/other:1"]


@pytest.mark.parametrize(
    ("message", "failure"),
    [
        pytest.param("unauthorized: authentication required", push.Failure.AUTH, id="unauthorized"),
        pytest.param("no basic auth credentials", push.Failure.AUTH, id="no-credentials"),
        pytest.param("denied: requested access to the resource is denied", push.Failure.DENIED, id="denied"),
        pytest.param(
            'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
            push.Failure.UNREACHABLE,
            id="refused",
        ),
        pytest.param(
            "received unexpected HTTP status: 503 Service Unavailable", push.Failure.TRANSIENT, id="503"
        ),
        pytest.param("net/http: TLS handshake timeout", push.Failure.TRANSIENT, id="tls-timeout"),
        pytest.param("blob upload unknown: EOF", push.Failure.TRANSIENT, id="eof"),
        pytest.param(f"manifest invalid: {DIGEST[:20]}401ab", push.Failure.OTHER, id="digits-inside-hex"),
        pytest.param("manifest blob unknown", push.Failure.OTHER, id="other"),
    ],
)
def test_classify(message: str, failure: push.Failure) -> None:
    assert push.classify(message) is failure


def test_read_push_stream_takes_digest_from_aux() -> None:
    events: list[dict[str, Any]] = [
        {"status": "The push refers to repository [r/m]"},
        {"status": "Preparing", "id": "c43f"},
        {"status": "Pushing", "id": "c43f", "progressDetail": {"current": 1}},
        {"status": "Pushed", "id": "c43f"},
        {"status": f"1: digest: {DIGEST} size: 528"},
        {"progressDetail": {}, "aux": {"Tag": "1", "Digest": DIGEST, "Size": 528}},
    ]
    echoed: list[str] = []
    result = push.read_push_stream(events, echo=echoed.append)
    assert result.digest == DIGEST
    assert echoed == ["The push refers to repository [r/m]", "c43f: Pushed", f"1: digest: {DIGEST} size: 528"]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        pytest.param(
            [
                {"status": "Preparing", "id": "a"},
                {"errorDetail": {"message": "denied: no"}, "error": "denied: no"},
            ],
            "denied: no",
            id="error-event",
        ),
        pytest.param([{"errorDetail": {"message": "unauthorized"}}], "unauthorized", id="error-detail-only"),
        pytest.param([{"status": "Pushed", "id": "a"}], "without reporting a digest", id="no-aux"),
    ],
)
def test_read_push_stream_raises_on_errors(events: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(push.PushError, match=message):
        push.read_push_stream(events, echo=lambda _line: None)


class FlakyPush:
    """An action that fails with the given messages first, then returns a digest."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise push.PushError(self.failures.pop(0))
        return DIGEST


def test_with_retries_retries_transient_failures() -> None:
    action = FlakyPush(["502 Bad Gateway", "i/o timeout"])
    slept: list[float] = []
    assert push.with_retries(action, delays=(1, 2, 3), sleep=slept.append) == DIGEST
    assert (action.calls, slept) == (3, [1, 2])


def test_with_retries_gives_up_after_the_last_delay() -> None:
    action = FlakyPush(["503"] * 5)
    slept: list[float] = []
    with pytest.raises(push.PushError, match="503"):
        push.with_retries(action, delays=(1, 2), sleep=slept.append)
    assert (action.calls, slept) == (3, [1, 2])


def test_with_retries_never_retries_auth_errors() -> None:
    action = FlakyPush(["unauthorized: authentication required"])
    slept: list[float] = []
    with pytest.raises(push.PushError, match="unauthorized"):
        push.with_retries(action, delays=(1, 2), sleep=slept.append)
    assert (action.calls, slept) == (1, [])


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        pytest.param(
            ["--username", "bob"], "needs its password or token in env REGISTRY_PASSWORD", id="no-pass"
        ),
        pytest.param([], "--username is empty", id="no-user"),
    ],
)
def test_credentials_must_come_in_pairs(
    options: list[str], complaint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret-value" if not options else "")
    with pytest.raises(SystemExit) as exited:
        push.main(["--image", "x", "--tags", "127.0.0.1:5000/m:1", *options])
    assert exited.value.code == 1
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    ("image", "username", "merge_platforms", "complaint"),
    [
        pytest.param("", "", "", "--image is empty: give the built image's id or tag", id="no-image"),
        pytest.param(
            "img:1",
            "bob",
            "",
            "--username 'bob' needs its password or token in env REGISTRY_PASSWORD",
            id="no-pass",
        ),
        pytest.param(
            "",
            "",
            "linux/amd64",
            "--merge-platforms names one platform; an index joins two or more",
            id="one",
        ),
    ],
)
def test_the_checked_request_refuses_without_main(
    image: str, username: str, merge_platforms: str, complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_PASSWORD", raising=False)
    refs = push.parse_push_refs(["127.0.0.1:5000/m:1"])
    with pytest.raises(StepError) as refused:
        push.request(image, refs, username, merge_platforms=merge_platforms)
    assert str(refused.value) == complaint


def test_the_request_reads_the_password_and_never_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret-value")
    refs = push.parse_push_refs(["127.0.0.1:5000/m:1", "127.0.0.1:5000/m:latest"])
    request = push.request("img:1", refs, "bob")
    assert (request.password, request.refs, request.merge_platforms) == ("s3cret-value", tuple(refs), ())
    assert "s3cret-value" not in repr(request)


# --- against a real registry ------------------------------------------------------------------------


@pytest.fixture
def run_push(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry) -> Iterator[Any]:
    """Run `push.main` in-process with `password`; check the password never shows."""
    runs: list[StepRun] = []

    def run(args: list[str], password: str) -> StepRun:
        monkeypatch.setenv("REGISTRY_PASSWORD", password)
        runs.append(run_step(push.main, args, tmp_path, monkeypatch))
        return runs[-1]

    yield run
    for done in runs:
        for text in (done.out, done.err, done.summary, *done.outputs.values()):
            assert registry.password not in text
            assert "wrong-" + registry.password not in text


@pytest.fixture(scope="module")
def small_image() -> Iterator[Any]:
    """A tiny image of its own (the base plus a unique label); removed with all its tags afterwards."""
    client = docker.from_env()
    dockerfile = f'FROM modelship/python-base:3.11-bookworm\nLABEL test.modelship.push="{uuid.uuid4().hex}"\n'
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True, pull=False)
    try:
        yield image
    finally:
        client.images.remove(image.id, force=True)
        client.close()


def unique_repo() -> str:
    return f"modelship-test/push-{uuid.uuid4().hex[:10]}"


def push_under_two_tags(run_push: Any, registry: Registry, image: Any) -> tuple[str, list[str], StepRun]:
    """Push `image` by `main` under tags 1.0.0 and latest of a new repository: its name, the tags, the run."""
    repo = unique_repo()
    tags = [f"{registry.host}/{repo}:1.0.0", f"{registry.host}/{repo}:latest"]
    outcome = run_push(
        ["--image", image.id, "--tags", ",".join(tags), "--username", registry.username], registry.password
    )
    assert outcome.code == 0, outcome.err
    return repo, tags, outcome


@pytest.mark.docker
@pytest.mark.registry
def test_push_then_pull_by_digest(run_push: Any, registry: Registry, small_image: Any) -> None:
    repo, tags, outcome = push_under_two_tags(run_push, registry, small_image)
    digest = outcome.outputs["digest"]
    assert digest.startswith("sha256:")
    assert outcome.outputs["image-ref"] == f"{registry.host}/{repo}@{digest}"
    assert outcome.summary.startswith(f"✅ **pushed** `{registry.host}/{repo}@{digest}`")
    assert sorted(registry.tags(repo)) == ["1.0.0", "latest"]
    api = RegistryAPI(registry.host, registry.username, registry.password, insecure=True)
    assert [api.manifest_digest(repo, tag) for tag in ("1.0.0", "latest", "missing")] == [digest, digest, ""]

    client = docker.from_env()
    try:
        client.api.remove_image(tags[0])
        client.api.remove_image(tags[1])
        pulled = client.images.pull(outcome.outputs["image-ref"], auth_config=registry_auth(registry))
        assert pulled.id == small_image.id
    finally:
        client.close()


@pytest.mark.docker
@pytest.mark.registry
def test_run_returns_what_main_writes(
    run_push: Any, registry: Registry, small_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, tags, by_main = push_under_two_tags(run_push, registry, small_image)
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    pushed = push.run(push.request(small_image.id, push.parse_push_refs(tags), registry.username))
    digest = by_main.outputs["digest"]
    assert pushed.passed
    assert pushed.digest == digest
    assert pushed.image_ref == ImageRef(registry.host, repo, digest=digest)
    assert pushed.served == {tag: digest for tag in tags}
    assert (pushed.image_id, pushed.pushes) == (small_image.id, ())
    assert (
        pushed.outputs()
        == by_main.outputs
        == {"digest": digest, "image-ref": f"{registry.host}/{repo}@{digest}"}
    )


@pytest.mark.docker
@pytest.mark.registry
def test_a_dry_run_returns_no_digest_and_no_outputs(
    run_push: Any, registry: Registry, small_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = unique_repo()
    tags = [f"{registry.host}/{repo}:1"]
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    pushed = push.run(
        push.request(small_image.id, push.parse_push_refs(tags), registry.username, dry_run=True)
    )
    assert (pushed.passed, pushed.digest, pushed.image_ref, pushed.served) == (True, "", None, {})
    assert pushed.outputs() == {}
    args = ["--image", small_image.id, "--tags", tags[0], "--username", registry.username, "--dry-run"]
    assert run_push(args, registry.password).outputs == {}
    assert repo not in registry.catalog()


def registry_auth(registry: Registry) -> dict[str, str]:
    return {"username": registry.username, "password": registry.password}


@pytest.mark.docker
@pytest.mark.registry
def test_pushing_again_gives_the_same_digest(run_push: Any, registry: Registry, small_image: Any) -> None:
    repo = unique_repo()
    args = ["--image", small_image.id, "--tags", f"{registry.host}/{repo}:a", "--username", registry.username]
    first, second = run_push(args, registry.password), run_push(args, registry.password)
    assert (first.code, second.code) == (0, 0)
    assert first.outputs["digest"] == second.outputs["digest"]


@pytest.mark.docker
@pytest.mark.registry
def test_wrong_password_is_refused_and_nothing_pushed(
    run_push: Any, registry: Registry, small_image: Any
) -> None:
    repo = unique_repo()
    args = ["--image", small_image.id, "--tags", f"{registry.host}/{repo}:1", "--username", registry.username]
    outcome = run_push(args, "wrong-" + registry.password)
    assert outcome.code == 1
    assert "refused the login" in outcome.err
    assert "REGISTRY_PASSWORD" in outcome.err
    assert outcome.summary.startswith("❌")
    assert "digest" not in outcome.outputs
    assert repo not in registry.catalog()


@pytest.mark.docker
@pytest.mark.registry
def test_dry_run_checks_but_pushes_nothing(run_push: Any, registry: Registry, small_image: Any) -> None:
    repo = unique_repo()
    tag = f"{registry.host}/{repo}:1"
    args = ["--image", small_image.id, "--tags", tag, "--username", registry.username, "--dry-run"]
    outcome = run_push(args, registry.password)
    assert outcome.code == 0, outcome.err
    assert "dry run" in outcome.summary.splitlines()[0]
    assert repo not in registry.catalog()
    assert tag not in docker.from_env().images.get(small_image.id).tags
    refused = run_push(args, "wrong-" + registry.password)
    assert refused.code == 1
    assert "refused the login" in refused.err


@pytest.mark.docker
@pytest.mark.registry
def test_unreachable_registry_is_named(run_push: Any, small_image: Any) -> None:
    host = f"127.0.0.1:{free_port()}"
    outcome = run_push(["--image", small_image.id, "--tags", f"{host}/m:1", "--username", "u"], "pw")
    assert outcome.code == 1
    assert f"registry {host} is unreachable" in outcome.err
    assert "check that it is running" in outcome.err


@pytest.mark.docker
@pytest.mark.registry
def test_missing_local_image_says_build_first(run_push: Any, registry: Registry) -> None:
    missing = f"modelship-test/not-built-{uuid.uuid4().hex[:8]}:1"
    outcome = run_push(
        ["--image", missing, "--tags", f"{registry.host}/m:1", "--username", registry.username],
        registry.password,
    )
    assert outcome.code == 1
    assert f"image {missing!r} is not in the local Docker engine; run the build step first" in outcome.err


@pytest.mark.docker
@pytest.mark.registry
def test_verify_tags_catches_a_tag_moved_after_the_push(
    run_push: Any, registry: Registry, small_image: Any
) -> None:
    repo = unique_repo()
    tag = f"{registry.host}/{repo}:1"
    outcome = run_push(
        ["--image", small_image.id, "--tags", tag, "--username", registry.username], registry.password
    )
    assert outcome.code == 0, outcome.err
    client = docker.from_env()
    try:
        # Someone else pushes another image (the base itself) to the same tag.
        client.images.get(BASE).tag(f"{registry.host}/{repo}", "1")
        client.images.push(f"{registry.host}/{repo}", tag="1", auth_config=registry_auth(registry))
    finally:
        client.api.remove_image(tag)
        client.close()
    api = RegistryAPI(registry.host, registry.username, registry.password, insecure=True)
    with pytest.raises(StepError, match=f"serves sha256:[0-9a-f]{{64}} for {tag}, not the pushed digest"):
        push.verify_tags(api, push.parse_push_refs([tag]), outcome.outputs["digest"])


BASE = "modelship/python-base:3.11-bookworm"


@pytest.mark.docker
@pytest.mark.registry
def test_bearer_token_challenge(
    run_push: Any, registry: Registry, small_image: Any, token_front: str
) -> None:
    repo = unique_repo()
    outcome = run_push(
        ["--image", small_image.id, "--tags", f"{registry.host}/{repo}:2", "--username", registry.username],
        registry.password,
    )
    assert outcome.code == 0, outcome.err
    api = RegistryAPI(token_front, registry.username, registry.password, insecure=True)
    api.check_login()
    assert api.manifest_digest(repo, "2") == outcome.outputs["digest"]
    assert api.manifest_digest(repo, "nope") == ""
    refused = RegistryAPI(token_front, registry.username, "wrong-" + registry.password, insecure=True)
    with pytest.raises(StepError, match=f"registry {token_front} refused the login; check --username"):
        refused.manifest_digest(repo, "2")


@pytest.mark.docker
@pytest.mark.registry
def test_in_actions_the_password_is_masked_before_anything_else(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    missing = f"modelship-test/not-built-{uuid.uuid4().hex[:8]}:1"
    with pytest.raises(SystemExit):
        push.main(["--image", missing, "--tags", f"{registry.host}/m:1", "--username", registry.username])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == f"::add-mask::{registry.password}"
    assert registry.password not in "\n".join(lines[1:]) + captured.err


@pytest.mark.docker
@pytest.mark.registry
def test_command_line_dry_run(registry: Registry, small_image: Any) -> None:
    tag = f"{registry.host}/{unique_repo()}:1"
    env = {
        **os.environ,
        "REGISTRY_PASSWORD": registry.password,
        "GITHUB_OUTPUT": "",
        "GITHUB_STEP_SUMMARY": "",
    }
    args = ["--image", small_image.id, "--tags", tag, "--username", registry.username, "--dry-run"]
    done = subprocess.run(
        [sys.executable, "-m", "scripts.push", *args],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "nothing was pushed" in done.stdout
    assert registry.password not in done.stdout + done.stderr
