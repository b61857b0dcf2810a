"""The push of a multi-platform build: each platform's image by digest, then one index under every tag.

Each platform's image goes up under its own `<tag>-<arch>` ref (Docker pushes tags, not bare
digests) and is then named by the digest the registry gave it; the tags asked for get an OCI image
index over those digests (scripts.oci_index), read back to check it resolves to every platform.

`python -m scripts.push_index` writes that index alone, over images that other jobs pushed under
`<tag>-<arch>` (the reusable workflow's native arm64 legs): each one's digest is read from the registry.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from scripts import gha, oci_index, platforms
from scripts.docker_engine import connect
from scripts.gha import StepError
from scripts.image_ref import ImageRef, parse_ref
from scripts.platforms import Platform
from scripts.registry import RegistryAPI, is_insecure


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
    api: RegistryAPI, images: list[PlatformImage], tags: list[ImageRef], push_one: Callable[[ImageRef], str]
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


def summary(index_digest: str, pushes: list[PlatformPush], tags: list[ImageRef]) -> str:
    """The verdict-first Markdown summary: the index, then one row per platform."""
    head = f"✅ **pushed** `{tags[0].name}@{index_digest}`, an OCI image index of {len(pushes)} platforms"
    rows = ["| platform | pushed as | digest |", "| --- | --- | --- |"]
    rows += [f"| {push.platform} | `{push.ref}` | `{push.digest}` |" for push in pushes]
    served = ", ".join(f"`{ref}`" for ref in tags)
    return "\n".join([head, "", *rows, "", f"Each of {served} resolves to every platform above."])


@dataclass(frozen=True)
class MergeOptions:
    """The inputs of `python -m scripts.push_index`, parsed once."""

    tags: list[ImageRef]
    platforms: tuple[Platform, ...]
    username: str
    password: str


def parse_merge_args(argv: list[str] | None) -> MergeOptions:
    """Read the inputs (CLI or INPUT_*); the password only from REGISTRY_PASSWORD."""
    parser = gha.StepParser(prog="push_index", description=__doc__)
    parser.add_input(
        "--tags", required=True, help="full refs the index goes under, comma- or newline-separated"
    )
    parser.add_input("--platforms", required=True, help="the platforms pushed, e.g. linux/amd64,linux/arm64")
    parser.add_input("--username", default="", help="registry user (password from env REGISTRY_PASSWORD)")
    args = parser.parse_args(argv)
    password = os.environ.get("REGISTRY_PASSWORD", "")
    gha.mask(password)
    tags = [parse_ref(tag, f"{gha.input_name('tags')} holds") for tag in gha.split_list(args.tags)]
    if not tags or any(ref.digest or not ref.tag for ref in tags):
        raise StepError(
            f"{gha.input_name('tags')} needs full refs ending with ':<tag>', e.g. the build's tags"
        )
    chosen = platforms.named(args.platforms)
    if len(chosen) < 2:
        raise StepError(
            f"{gha.input_name('platforms')} names {len(chosen)} platform; an index joins two or more"
        )
    return MergeOptions(tags, chosen, args.username, password)


def leg_images(options: MergeOptions) -> list[PlatformImage]:
    """Each platform's image as its leg pushed it: the first tag with the platform's suffix."""
    first = options.tags[0]
    return [
        PlatformImage(each, first.with_tag(first.tag + platforms.tag_suffix(each)))
        for each in options.platforms
    ]


def pushed_digest(api: RegistryAPI, ref: ImageRef) -> str:
    """The digest the registry serves for a leg's ref; a missing one names the leg to look at."""
    digest = api.manifest_digest(ref.repository, ref.tag)
    if not digest:
        raise StepError(f"registry {api.host} has no {ref}: the leg that builds it did not push; see its log")
    return digest


def merge(options: MergeOptions) -> int:
    """Write the index over the legs' images under every tag and report its digest."""
    client = connect()
    try:
        registry_config = client.info().get("RegistryConfig")
    finally:
        client.close()
    registry = options.tags[0].registry
    insecure = is_insecure(registry, registry_config)
    with contextlib.closing(
        RegistryAPI(registry, options.username, options.password, insecure=insecure)
    ) as api:
        api.check_login()
        digest, pushes = push_platforms(
            api, leg_images(options), options.tags, lambda ref: pushed_digest(api, ref)
        )
    gha.set_output("digest", digest)
    gha.set_output("image-ref", f"{options.tags[0].name}@{digest}")
    gha.set_output("platform-digests", json.dumps({str(push.platform): push.digest for push in pushes}))
    gha.set_output("resolved-platforms", ",".join(str(push.platform) for push in pushes))
    gha.add_summary(summary(digest, pushes, options.tags))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.push_index --tags REF1,REF2 --platforms linux/amd64,linux/arm64`."""
    with gha.step_errors():
        return merge(parse_merge_args(argv))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
