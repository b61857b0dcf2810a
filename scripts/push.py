"""Push step: log in, tag the exact tested image, push it, check the registry serves its digest per tag.

`run` takes a checked `PushRequest` (`request`) and returns the typed `Pushed`; `main` writes its
outputs and summary at the edge. A multi-platform push (an OCI index) is scripts.push_index.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
from docker.errors import APIError

from scripts import gha, platforms, push_index
from scripts.docker_engine import connect, local_image
from scripts.gha import StepError
from scripts.image_ref import DOCKER_HUB, ImageRef, parse_ref
from scripts.registry import DOCKER_HUB_LOGIN, RegistryAPI, is_insecure, password_for, unreachable_message

RETRY_DELAYS = (2.0, 5.0, 10.0)
T = TypeVar("T")


class Failure(enum.Enum):
    """What kind of registry error a message describes, which decides whether to retry."""

    AUTH = "auth"
    DENIED = "denied"
    UNREACHABLE = "unreachable"
    TRANSIENT = "transient"
    OTHER = "other"


_PATTERNS: list[tuple[Failure, re.Pattern[str]]] = [
    (
        Failure.AUTH,
        re.compile(r"unauthorized|authentication required|no basic auth credentials|\b401\b", re.I),
    ),
    (Failure.DENIED, re.compile(r"denied|forbidden|\b403\b", re.I)),
    (Failure.UNREACHABLE, re.compile(r"connection refused|no such host|no route to host", re.I)),
    (
        Failure.TRANSIENT,
        re.compile(
            r"timeout|timed out|connection reset|broken pipe|\bEOF\b|toomanyrequests|\b429\b|"
            r"\b50[0-4]\b|internal server error|bad gateway|service unavailable",
            re.I,
        ),
    ),
]


def classify(message: str) -> Failure:
    """Classify a registry/daemon error message (the first matching kind wins)."""
    for failure, pattern in _PATTERNS:
        if pattern.search(message):
            return failure
    return Failure.OTHER


class PushError(Exception):
    """A push that failed, with the registry's message and its classification."""

    def __init__(self, message: str):
        super().__init__(message)
        self.failure = classify(message)


def with_retries(
    action: Callable[[], T],
    *,
    delays: Sequence[float] = RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    describe: str = "push",
) -> T:
    """Run `action`, retrying transient `PushError`s after each delay; others fail at once."""
    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            return action()
        except PushError as error:
            if error.failure not in (Failure.TRANSIENT, Failure.UNREACHABLE) or delay is None:
                raise
            print(f"{describe} failed (attempt {attempt}: {error}); retrying in {delay:g}s", flush=True)
            sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class StreamResult:
    """What a push stream said: the pushed digest (from its aux data) and the log lines."""

    digest: str = ""
    lines: list[str] = field(default_factory=list)


_QUIET_STATUSES = {"Pushing", "Preparing", "Waiting"}


def read_push_stream(events: Iterable[dict[str, Any]], echo: Callable[[str], None] = print) -> StreamResult:
    """Follow a decoded push stream; raise `PushError` on an error event (the SDK does not)."""
    result = StreamResult()
    for event in events:
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail") or {}
            raise PushError(str(event.get("error") or detail.get("message") or event))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            result.digest = str(aux["Digest"])
        status = str(event.get("status") or "")
        if status and status not in _QUIET_STATUSES:
            line = f"{event['id']}: {status}" if event.get("id") else status
            result.lines.append(line)
            echo(line)
    if not result.digest:
        raise PushError("the push stream ended without reporting a digest")
    return result


def failure_message(failure: Failure, detail: str, registry: str, username: str, repository: str) -> str:
    """The user-facing explanation of a registry failure: what happened and what to do."""
    if failure is Failure.AUTH:
        return (
            f"registry {registry} refused the login for user {username or '(anonymous)'!r}; "
            f"check {gha.input_name('username')} and the REGISTRY_PASSWORD secret"
        )
    if failure is Failure.DENIED:
        return (
            f"registry {registry} denied pushing to {repository!r} for user {username or '(anonymous)'!r}; "
            f"grant it push permission on that repository, or push to one it may write ({detail})"
        )
    if failure is Failure.UNREACHABLE:
        return unreachable_message(registry, detail)
    return f"pushing to {registry}/{repository} failed: {detail}"


def parse_push_refs(tags: list[str]) -> list[ImageRef]:
    """Input `tags`, each a full image reference (what a push needs of them is `check_push_refs`)."""
    return [parse_ref(tag, f"{gha.input_name('tags')} holds") for tag in tags]


def check_push_refs(refs: Sequence[ImageRef]) -> tuple[ImageRef, ...]:
    """The refs to push: at least one, each with a tag (and no digest), all in the same registry."""
    if not refs:
        raise StepError(
            f"no tags given: pass {gha.input_name('tags')} with full refs like "
            "'registry.example.com/team/model:1.2.0'"
        )
    for ref in refs:
        if ref.digest or not ref.tag:
            raise StepError(
                f"tag {str(ref)!r} must end with ':<tag>' (and no '@digest'): a push needs a tag name"
            )
    registries = sorted({ref.registry for ref in refs})
    if len(registries) > 1:
        raise StepError(
            f"the tags name different registries ({', '.join(registries)}); push to one registry per step"
        )
    return tuple(refs)


@dataclass(frozen=True)
class PushRequest:
    """What the push needs: the tested image, the refs to push it under, the credentials, the kind of push."""

    image: str
    refs: tuple[ImageRef, ...]
    username: str = ""
    password: str = field(default="", repr=False)
    dry_run: bool = False
    platform_images: tuple[push_index.PlatformImage, ...] = ()  # push an index over these
    merge_platforms: tuple[platforms.Platform, ...] = ()  # push only an index over the legs' images


def request(
    image: str,
    refs: Sequence[ImageRef],
    username: str = "",
    dry_run: bool = False,
    platform_images: Sequence[push_index.PlatformImage] = (),
    merge_platforms: str = "",
) -> PushRequest:
    """The checked request; the password only from env REGISTRY_PASSWORD (masked), as `username`'s."""
    if not image and not merge_platforms:
        raise StepError(f"{gha.input_name('image')} is empty: give the built image's id or tag")
    password = password_for(username)
    if password and not username:
        raise StepError(
            f"REGISTRY_PASSWORD is set but {gha.input_name('username')} is empty; give the registry user name"
        )
    chosen = platforms.named(merge_platforms)
    if len(chosen) == 1:
        raise StepError(f"{gha.input_name('merge-platforms')} names one platform; an index joins two or more")
    return PushRequest(
        image, check_push_refs(refs), username, password, dry_run, tuple(platform_images), chosen
    )


def parse_args(argv: list[str] | None) -> PushRequest:
    """Read the inputs (CLI or INPUT_*)."""
    parser = gha.StepParser(prog="push", description=__doc__)
    parser.add_input("--image", default="", help="local image id or tag (the one built and tested)")
    parser.add_input("--tags", required=True, help="full refs to push, comma- or newline-separated")
    parser.add_input("--username", default="", help="registry user (password from env REGISTRY_PASSWORD)")
    parser.add_flag("--dry-run", help="log in and check everything, push nothing")
    parser.add_input("--platform-images", default="", help="the build's platform-images: push an index")
    parser.add_input(
        "--merge-platforms", default="", help="push only an index over these platforms' <tag>-<arch> images"
    )
    args = parser.parse_args(argv)
    return request(
        args.image,
        parse_push_refs(gha.split_list(args.tags)),
        args.username,
        args.dry_run,
        push_index.parse_platform_images(args.platform_images),
        args.merge_platforms,
    )


@dataclass(frozen=True)
class Pushed:
    """What the push did: the digest every tag serves (none on a dry run), and what the summary shows."""

    image: str  # the image input
    refs: tuple[ImageRef, ...]
    username: str
    dry_run: bool
    image_id: str  # the local image's id, or "(an index only)" when merging the legs' images
    digest: str = ""
    served: dict[str, str] = field(default_factory=dict)  # tag -> the digest the registry serves for it
    pushes: tuple[push_index.PlatformPush, ...] = ()  # an index's platform images

    @property
    def passed(self) -> bool:
        """Always: a push that fails raises StepError instead."""
        return True

    @property
    def image_ref(self) -> ImageRef | None:
        """The first tag's name with the pushed digest (no tag), what a pull by digest names; None if none."""
        return dataclasses.replace(self.refs[0], tag="", digest=self.digest) if self.digest else None

    def outputs(self) -> dict[str, str]:
        """The step's outputs: the digest and image-ref once pushed; an index's platforms too."""
        if self.image_ref is None:
            return {}
        outputs = {"digest": self.digest, "image-ref": f"{self.image_ref.name}@{self.digest}"}
        if self.pushes:
            outputs["platform-digests"] = json.dumps(
                {str(push.platform): push.digest for push in self.pushes}
            )
            outputs["resolved-platforms"] = ",".join(str(push.platform) for push in self.pushes)
        return outputs


def docker_login(client: docker.DockerClient, request: PushRequest, registry: str) -> None:
    """Log the Docker SDK in to the registry (the engine checks the credentials too)."""
    if not request.username:
        return
    try:
        server = DOCKER_HUB_LOGIN if registry == DOCKER_HUB else registry
        client.login(username=request.username, password=request.password, registry=server, reauth=True)
    except APIError as error:
        detail = str(error.explanation or error)
        failure = classify(detail)
        if failure is Failure.OTHER:
            failure = Failure.AUTH if error.status_code == 401 else Failure.OTHER
        raise StepError(failure_message(failure, detail, registry, request.username, "")) from error


def push_one(client: docker.DockerClient, ref: ImageRef, request: PushRequest) -> str:
    """Push one tag and return the digest from the stream's aux data."""
    auth = {"username": request.username, "password": request.password} if request.username else None
    print(f"pushing {ref}", flush=True)

    def attempt() -> str:
        try:
            events = client.api.push(ref.name, tag=ref.tag, stream=True, decode=True, auth_config=auth)
            return read_push_stream(events, echo=lambda line: print(f"  {line}", flush=True)).digest
        except APIError as error:
            raise PushError(str(error.explanation or error)) from error

    try:
        return with_retries(attempt, describe=f"push of {ref}")
    except PushError as error:
        message = failure_message(error.failure, str(error), ref.registry, request.username, ref.repository)
        raise StepError(message) from error


def verify_tags(api: RegistryAPI, refs: Sequence[ImageRef], digest: str) -> dict[str, str]:
    """Ask the registry which digest each tag serves; refuse any that is not `digest`."""
    served = {}
    for ref in refs:
        served[str(ref)] = api.manifest_digest(ref.repository, ref.tag)
        if served[str(ref)] != digest:
            raise StepError(
                f"registry {api.host} serves {served[str(ref)] or 'nothing'} for {ref}, "
                f"not the pushed digest {digest}; something else pushed to that tag meanwhile, retry the push"
            )
    return served


def summary(pushed: Pushed) -> str:
    """The verdict-first Markdown summary of the push (an index's is push_index.summary)."""
    registry = pushed.refs[0].registry
    if pushed.dry_run:
        head = (
            f"✅ **push (dry run)**: `{pushed.image}` could go to `{registry}` "
            f"as {pushed.username or 'anonymous'}; nothing was pushed"
        )
    else:
        head = f"✅ **pushed** `{pushed.refs[0].name}@{pushed.digest}`"
    rows = ["| tag | registry serves | |", "| --- | --- | --- |"]
    for ref in pushed.refs:
        got = pushed.served.get(str(ref), "")
        mark = "not pushed (dry run)" if pushed.dry_run else ("✅" if got == pushed.digest else "❌")
        rows.append(f"| `{ref}` | `{got or '-'}` | {mark} |")
    return "\n".join([head, "", f"image id `{pushed.image_id}`", "", *rows])


def push_all(
    client: docker.DockerClient, api: RegistryAPI, image: Any, request: PushRequest
) -> tuple[str, dict[str, str]]:
    """Tag the image with every ref, push each, and check the registry serves the one digest for all."""
    for ref in request.refs:
        if not image.tag(ref.name, ref.tag):
            raise StepError(f"could not tag image {image.id} as {ref}")
    digests = {str(ref): push_one(client, ref, request) for ref in request.refs}
    if len(set(digests.values())) != 1:
        raise StepError(f"the tags were pushed with different digests: {digests}")
    digest = next(iter(digests.values()))
    return digest, verify_tags(api, request.refs, digest)


def push_platforms(
    client: docker.DockerClient, api: RegistryAPI, request: PushRequest
) -> tuple[str, list[push_index.PlatformPush]]:
    """Push each platform's image by digest and one OCI index under every tag (with merge-platforms,
    the index alone, over the images other jobs pushed); the index's digest and the platforms' pushes."""
    if request.merge_platforms:
        return push_index.merge_legs(api, request.merge_platforms, request.refs)
    return push_index.push_platforms(
        api, request.platform_images, request.refs, lambda ref: push_one(client, ref, request)
    )


def run(request: PushRequest) -> Pushed:
    """Log in, tag, push and verify (an index over platform images); raise StepError on any failure."""
    client = connect()
    try:
        image = None if request.merge_platforms else local_image(client, request.image)
        image_id = str(image.id) if image else "(an index only)"
        pushed = Pushed(request.image, request.refs, request.username, request.dry_run, image_id)
        registry = request.refs[0].registry
        insecure = is_insecure(registry, client.info().get("RegistryConfig"))
        with contextlib.closing(
            RegistryAPI(registry, request.username, request.password, insecure=insecure)
        ) as api:
            api.check_login()
            docker_login(client, request, registry)
            print(f"logged in to {registry} as {request.username or 'anonymous'}", flush=True)
            if request.dry_run:
                return pushed
            if request.platform_images or request.merge_platforms:
                digest, pushes = push_platforms(client, api, request)
                return dataclasses.replace(pushed, digest=digest, pushes=tuple(pushes))
            digest, served = push_all(client, api, image, request)
            return dataclasses.replace(pushed, digest=digest, served=served)
    finally:
        client.close()


def report(pushed: Pushed) -> None:
    """The summary: the index and its platforms, or the image and what the registry serves per tag."""
    if pushed.pushes:
        gha.add_summary(push_index.summary(pushed.digest, pushed.pushes, pushed.refs))
    else:
        gha.add_summary(summary(pushed))


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.push --image REF --tags REF1,REF2 [--username U] [--dry-run]`."""
    return gha.conclude(lambda: run(parse_args(argv)), report)


if __name__ == "__main__":
    raise SystemExit(main())
