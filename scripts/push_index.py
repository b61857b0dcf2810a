"""The push of a multi-platform build: each platform's image by digest, then one index under every tag.

Each platform's image goes up under its own `<tag>-<arch>` ref (Docker pushes tags, not bare
digests) and is then named by the digest the registry gave it; the tags asked for get an OCI image
index over those digests (scripts.oci_index), read back to check it resolves to every platform.

`merge_legs` writes that index alone, over images other jobs pushed under `<tag>-<arch>` (the
reusable workflow's native arm64 legs; `python -m scripts.push --merge-platforms`), each one's digest
read from the registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scripts import gha, oci_index, platforms
from scripts.gha import StepError
from scripts.image_ref import ImageRef, parse_ref
from scripts.platforms import Platform
from scripts.registry import RegistryAPI


@dataclass(frozen=True)
class PlatformImage:
    """One platform's local image and the ref it is pushed under."""

    platform: Platform
    ref: ImageRef


@dataclass(frozen=True)
class PlatformPush:
    """One platform's pushed image."""

    platform: Platform
    ref: ImageRef
    digest: str


def parse_platform_images(text: str) -> list[PlatformImage]:
    """Input `platform-images`: the build's JSON output of the same name."""
    if not text.strip():
        return []
    name = gha.input_name("platform-images")
    try:
        entries = json.loads(text)
        images = [
            PlatformImage(platforms.parse_one(entry["platform"]), parse_ref(entry["ref"]))
            for entry in entries
        ]
    except (json.JSONDecodeError, TypeError, KeyError):
        raise StepError(
            f"{name} is not the build step's platform-images output (a JSON list of "
            '{"platform": ..., "ref": ...}); pass that output as it is'
        ) from None
    if len({str(image.platform) for image in images}) != len(images):
        raise StepError(f"{name} lists a platform twice")
    return images


def push_platforms(
    api: RegistryAPI,
    images: Sequence[PlatformImage],
    tags: Sequence[ImageRef],
    push_one: Callable[[ImageRef], str],
) -> tuple[str, list[PlatformPush]]:
    """Push each platform's image, write the index under every tag, check each tag resolves to them all."""
    repositories = {ref.name for ref in [*tags, *(image.ref for image in images)]}
    if len(repositories) != 1:
        raise StepError(
            f"the platform images and the tags must name one repository, got {sorted(repositories)}"
        )
    pushes = [PlatformPush(image.platform, image.ref, push_one(image.ref)) for image in images]
    repository = tags[0].repository
    descriptors = [oci_index.describe(api, repository, push.digest, push.platform) for push in pushes]
    digests = {oci_index.put_index(api, repository, ref.tag, descriptors) for ref in tags}
    resolved = {str(ref): oci_index.resolved_platforms(api, repository, ref.tag) for ref in tags}
    wanted = [str(push.platform) for push in pushes]
    for ref, found in resolved.items():
        if found != wanted:
            raise StepError(
                f"registry {api.host} resolves {ref} to {found or 'no index'}, not {wanted}; retry the push"
            )
    return digests.pop(), pushes


def summary(index_digest: str, pushes: Sequence[PlatformPush], tags: Sequence[ImageRef]) -> str:
    """The verdict-first Markdown summary: the index, then one row per platform."""
    head = f"✅ **pushed** `{tags[0].name}@{index_digest}`, an OCI image index of {len(pushes)} platforms"
    rows = ["| platform | pushed as | digest |", "| --- | --- | --- |"]
    rows += [f"| {push.platform} | `{push.ref}` | `{push.digest}` |" for push in pushes]
    served = ", ".join(f"`{ref}`" for ref in tags)
    return "\n".join([head, "", *rows, "", f"Each of {served} resolves to every platform above."])


def leg_images(tags: Sequence[ImageRef], chosen: tuple[Platform, ...]) -> list[PlatformImage]:
    """Each platform's image as its leg pushed it: the first tag with the platform's suffix."""
    first = tags[0]
    return [PlatformImage(each, first.with_tag(first.tag + platforms.tag_suffix(each))) for each in chosen]


def merge_legs(
    api: RegistryAPI, chosen: tuple[Platform, ...], tags: Sequence[ImageRef]
) -> tuple[str, list[PlatformPush]]:
    """The index over images other jobs pushed under `<first tag>-<arch>`, written under every tag."""

    def pushed_digest(ref: ImageRef) -> str:
        digest = api.manifest_digest(ref.repository, ref.tag)
        if not digest:
            raise StepError(
                f"registry {api.host} has no {ref}: the leg that builds it did not push; see its log"
            )
        return digest

    return push_platforms(api, leg_images(tags, chosen), tags, pushed_digest)
