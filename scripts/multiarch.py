"""A build for several platforms: one image per platform, each from its own base image and wheelhouse.

The classic builder of Docker 20.10 takes a local `FROM` image whatever its architecture, and the
image it builds inherits the base's: `platform=linux/arm64` does not stop an amd64 base. So each
platform's base is checked before its build, and each image's architecture after it. For several
platforms each image gets the tags with `-<arch>` appended; the tags themselves go to the OCI index
the push step writes over them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scripts import gha, platforms
from scripts.docker_engine import connect
from scripts.gha import StepError
from scripts.image_ref import ImageRef
from scripts.platforms import Platform
from scripts.push_index import PlatformImage

if TYPE_CHECKING:
    from scripts.image_build import BuildPlan, ImageBuild

# The size the issue asks of the arm64 image against the amd64 one.
SIZE_RATIO_TARGET = 1.1


def engine_platform() -> Platform:
    """The platform the engine runs natively."""
    client = connect()
    try:
        return platforms.by_architecture(str(client.version().get("Arch") or ""))
    finally:
        client.close()


def plans_for(build: BuildPlan, text: str) -> list[BuildPlan]:
    """The plans of `--platforms`; the engine is asked its platform only when some are named."""
    if not text.strip() and platforms.ARCH_PLACEHOLDER not in build.base_image:
        return [build]
    return platform_plans(build, text, engine_platform())


def platform_plans(build: BuildPlan, text: str, host: Platform) -> list[BuildPlan]:
    """One plan per platform of `--platforms`; a build of the host's platform alone is `build` itself."""
    chosen = platforms.parse(text, host)
    multi = len(chosen) > 1
    if chosen == (host,) and platforms.ARCH_PLACEHOLDER not in build.base_image:
        return [build]
    plans = []
    for platform in chosen:
        base = platforms.base_image_for(build.base_image, platform)
        buildargs = {**build.buildargs, "BASE_IMAGE": base} if base else build.buildargs
        suffix = platforms.tag_suffix(platform) if multi else ""
        refs = tuple(ref.with_tag(ref.tag + suffix) for ref in build.refs)
        plans.append(
            dataclasses.replace(
                build,
                refs=refs,
                buildargs=buildargs,
                base_image=base,
                wheelhouse=platforms.wheelhouse_for(build.wheelhouse, platform, host),
                cache_candidates=tuple(ref.with_tag(ref.tag + suffix) for ref in build.cache_candidates),
                platform=platform,
            )
        )
    return plans


def check_base(client: Any, base_image: str, platform: Platform) -> None:
    """Make sure the base on the engine is the platform's: pull that variant of a multi-platform base
    (python:3.11-slim) when the engine holds another, refuse when none can be had (the engine would
    build on a base of the wrong architecture regardless)."""
    from docker.errors import DockerException, ImageNotFound

    if not base_image:
        return
    try:
        architecture = str(client.images.get(base_image).attrs.get("Architecture") or "")
    except ImageNotFound:
        return  # pulled by the build, for the platform asked
    if platforms.by_architecture(architecture) == platform:
        return
    try:
        client.images.pull(base_image, platform=str(platform))
        return
    except DockerException as error:
        reason = gha.first_line(error)
    raise StepError(
        f"the base image {base_image} on this engine is for linux/{architecture}, not {platform}, and its "
        f"{platform} variant could not be pulled ({reason}); build one with tools/build-base-image "
        f"{platform.architecture} and name each platform's with {platforms.ARCH_PLACEHOLDER} in "
        f"{gha.input_name('base-image')} (modelship/python-base:3.11-bookworm-{platforms.ARCH_PLACEHOLDER})"
    )


def check_built(attrs: dict[str, Any], platform: Platform) -> None:
    """The built image must be for the platform asked."""
    architecture = str(attrs.get("Architecture") or "")
    if platforms.by_architecture(architecture) != platform:
        raise StepError(f"the image built for {platform} says linux/{architecture}; check the base image")


def size_ratio(images: Sequence[ImageBuild]) -> float | None:
    """The arm64 image's size over the amd64 one's (None unless both were built)."""
    sizes = {
        image.plan.platform.architecture: image.result.size_bytes for image in images if image.plan.platform
    }
    if sizes.get("arm64") and sizes.get("amd64"):
        return sizes["arm64"] / sizes["amd64"]
    return None


def platform_image_entry(image: ImageBuild) -> dict[str, Any]:
    """One image's entry of output `platform-images`, which the push and the smoke test read."""
    return {
        "platform": str(image.plan.platform),
        "image-id": image.result.image_id,
        "ref": str(image.plan.refs[0]),
        "size-bytes": image.result.size_bytes,
        "base-image": image.plan.base_image,
    }


def platform_images(images: Sequence[ImageBuild]) -> list[PlatformImage]:
    """What the push needs of each platform's image to write the index over them."""
    return [PlatformImage(image.plan.platform, image.plan.refs[0]) for image in images if image.plan.platform]


def outputs(images: Sequence[ImageBuild]) -> dict[str, str]:
    """The outputs only a build for several platforms has: the platforms, their images, the size ratio."""
    found = {
        "platforms": ",".join(str(image.plan.platform) for image in images),
        "platform-images": json.dumps([platform_image_entry(image) for image in images]),
    }
    ratio = size_ratio(images)
    if ratio is not None:
        found["arm64-size-ratio"] = f"{ratio:.3f}"
    return found


def summary(images: Sequence[ImageBuild], final_refs: Sequence[ImageRef]) -> str:
    """The verdict-first Markdown summary: one row per platform."""
    rows = ["| platform | image | size | base image |", "| --- | --- | --- | --- |"]
    for image in images:
        size = f"{image.result.size_bytes / 1e6:.1f} MB"
        built = f"`{image.plan.refs[0]}` (`{image.result.image_id[:19]}`)"
        rows.append(f"| {image.plan.platform} | {built} | {size} | `{image.plan.base_image or 'default'}` |")
    head = f"### ✅ Built `{final_refs[0]}` for {len(images)} platforms"
    lines = [head, "", *rows]
    ratio = size_ratio(images)
    if ratio is not None:
        mark = "✅" if ratio <= SIZE_RATIO_TARGET else "❌"
        lines += ["", f"{mark} arm64/amd64 size: {ratio:.3f}x (target ≤ {SIZE_RATIO_TARGET}x)"]
    tags = ", ".join(f"`{ref}`" for ref in final_refs)
    lines += ["", f"The push step joins them under {tags} as one OCI image index."]
    return "\n".join(lines)
