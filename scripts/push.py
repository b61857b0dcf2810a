"""Push step: log in, tag the exact tested image, push it, check the registry serves its digest per tag."""

from __future__ import annotations

import contextlib
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
    """The refs to push: each needs an explicit tag, and all must name the same registry."""
    if not tags:
        raise StepError(
            f"no tags given: pass {gha.input_name('tags')} with full refs like "
            "'registry.example.com/team/model:1.2.0'"
        )
    refs = [parse_ref(tag, f"{gha.input_name('tags')} holds") for tag in tags]
    for tag, ref in zip(tags, refs, strict=True):
        if ref.digest or not ref.tag:
            raise StepError(f"tag {tag!r} must end with ':<tag>' (and no '@digest'): a push needs a tag name")
    registries = sorted({ref.registry for ref in refs})
    if len(registries) > 1:
        raise StepError(
            f"the tags name different registries ({', '.join(registries)}); push to one registry per step"
        )
    return refs


@dataclass(frozen=True)
class Options:
    """The push step's inputs, parsed once."""

    image: str
    refs: list[ImageRef]
    username: str
    password: str
    dry_run: bool
    platform_images: list[push_index.PlatformImage] = field(default_factory=list)
    merge_platforms: tuple[platforms.Platform, ...] = ()


def parse_args(argv: list[str] | None) -> Options:
    """Read the inputs (CLI or INPUT_*); the password only from REGISTRY_PASSWORD."""
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
    if not args.image and not args.merge_platforms:
        raise StepError(f"{gha.input_name('image')} is empty: give the built image's id or tag")
    password = password_for(args.username)
    if password and not args.username:
        raise StepError(
            f"REGISTRY_PASSWORD is set but {gha.input_name('username')} is empty; give the registry user name"
        )
    merge_platforms = platforms.named(args.merge_platforms)
    if len(merge_platforms) == 1:
        raise StepError(f"{gha.input_name('merge-platforms')} names one platform; an index joins two or more")
    return Options(
        args.image,
        parse_push_refs(gha.split_list(args.tags)),
        args.username,
        password,
        args.dry_run,
        push_index.parse_platform_images(args.platform_images),
        merge_platforms,
    )


def docker_login(client: docker.DockerClient, options: Options, registry: str) -> None:
    """Log the Docker SDK in to the registry (the engine checks the credentials too)."""
    if not options.username:
        return
    try:
        server = DOCKER_HUB_LOGIN if registry == DOCKER_HUB else registry
        client.login(username=options.username, password=options.password, registry=server, reauth=True)
    except APIError as error:
        detail = str(error.explanation or error)
        failure = classify(detail)
        if failure is Failure.OTHER:
            failure = Failure.AUTH if error.status_code == 401 else Failure.OTHER
        raise StepError(failure_message(failure, detail, registry, options.username, "")) from error


def push_one(client: docker.DockerClient, ref: ImageRef, options: Options) -> str:
    """Push one tag and return the digest from the stream's aux data."""
    auth = {"username": options.username, "password": options.password} if options.username else None
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
        message = failure_message(error.failure, str(error), ref.registry, options.username, ref.repository)
        raise StepError(message) from error


def verify_tags(api: RegistryAPI, refs: list[ImageRef], digest: str) -> dict[str, str]:
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


def summary(options: Options, image_id: str, digest: str, served: dict[str, str]) -> str:
    """The verdict-first Markdown summary of the push."""
    registry = options.refs[0].registry
    if options.dry_run:
        head = (
            f"✅ **push (dry run)**: `{options.image}` could go to `{registry}` "
            f"as {options.username or 'anonymous'}; nothing was pushed"
        )
    else:
        head = f"✅ **pushed** `{options.refs[0].name}@{digest}`"
    rows = ["| tag | registry serves | |", "| --- | --- | --- |"]
    for ref in options.refs:
        got = served.get(str(ref), "")
        mark = "not pushed (dry run)" if options.dry_run else ("✅" if got == digest else "❌")
        rows.append(f"| `{ref}` | `{got or '-'}` | {mark} |")
    return "\n".join([head, "", f"image id `{image_id}`", "", *rows])


def push_all(
    client: docker.DockerClient, api: RegistryAPI, image: Any, options: Options
) -> tuple[str, dict[str, str]]:
    """Tag the image with every ref, push each, and check the registry serves the one digest for all."""
    for ref in options.refs:
        if not image.tag(ref.name, ref.tag):
            raise StepError(f"could not tag image {image.id} as {ref}")
    digests = {str(ref): push_one(client, ref, options) for ref in options.refs}
    if len(set(digests.values())) != 1:
        raise StepError(f"the tags were pushed with different digests: {digests}")
    digest = next(iter(digests.values()))
    return digest, verify_tags(api, options.refs, digest)


def push_platforms(client: docker.DockerClient, api: RegistryAPI, options: Options) -> int:
    """Push each platform's image by digest and one OCI index under every tag (with merge-platforms,
    the index alone, over the images other jobs pushed)."""
    if options.merge_platforms:
        digest, pushes = push_index.merge_legs(api, options.merge_platforms, options.refs)
    else:
        digest, pushes = push_index.push_platforms(
            api, options.platform_images, options.refs, lambda ref: push_one(client, ref, options)
        )
    gha.set_output("digest", digest)
    gha.set_output("image-ref", f"{options.refs[0].name}@{digest}")
    gha.set_output("platform-digests", json.dumps({str(push.platform): push.digest for push in pushes}))
    gha.set_output("resolved-platforms", ",".join(str(push.platform) for push in pushes))
    gha.add_summary(push_index.summary(digest, pushes, options.refs))
    return 0


def run(options: Options) -> int:
    """Check, log in, tag, push and verify; raise StepError on any failure."""
    client = connect()
    try:
        image = None if options.merge_platforms else local_image(client, options.image)
        registry = options.refs[0].registry
        insecure = is_insecure(registry, client.info().get("RegistryConfig"))
        with contextlib.closing(
            RegistryAPI(registry, options.username, options.password, insecure=insecure)
        ) as api:
            api.check_login()
            docker_login(client, options, registry)
            print(f"logged in to {registry} as {options.username or 'anonymous'}", flush=True)
            if (options.platform_images or options.merge_platforms) and not options.dry_run:
                return push_platforms(client, api, options)
            digest, served = ("", {}) if options.dry_run else push_all(client, api, image, options)
        if digest:
            gha.set_output("digest", digest)
            gha.set_output("image-ref", f"{options.refs[0].name}@{digest}")
        gha.add_summary(summary(options, str(image.id) if image else "(an index only)", digest, served))
        return 0
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.push --image REF --tags REF1,REF2 [--username U] [--dry-run]`."""
    with gha.step_errors():
        return run(parse_args(argv))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
