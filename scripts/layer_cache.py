"""Reusing layers: the image this name pushed last time, pulled so the build takes its layers as cache."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from docker.errors import APIError, ImageNotFound

from scripts.image_ref import DOCKER_HUB, ImageRef


def candidates(image_name: ImageRef, refs: Iterable[ImageRef], use_cache: bool) -> tuple[ImageRef, ...]:
    """Where the image this name pushed last time may be: this build's own tags, then `latest`."""
    if not use_cache:
        return ()
    return tuple(dict.fromkeys([*refs, image_name.with_tag("latest")]))


def is_not_found(message: str) -> bool:
    """True for a registry's answer that the repository or tag does not exist (a first push)."""
    lowered = message.lower()
    return any(text in lowered for text in ("not found", "manifest unknown", "name unknown", "404"))


def pull_previous(client: Any, refs: Sequence[ImageRef], auth: dict[str, str] | None) -> ImageRef | None:
    """Pull the first of `refs` the registry has, for its layers; None when there is none to reuse.

    The classic builder takes cache only from the `cache_from` images once any is given, so none is
    given when the engine already holds one of the candidates (its own cache serves then). A missing
    image (a first push, a new branch) is quiet; other registry trouble builds without it, saying why.
    """
    for ref in refs:
        try:
            client.images.get(str(ref))
            return None
        except ImageNotFound:
            continue
        except APIError:
            return None
    for ref in refs:
        if ref.registry == DOCKER_HUB and auth is None:
            # A name without a registry host is a local one unless a Docker Hub user is given:
            # no anonymous pull from Docker Hub for it.
            return None
        try:
            events = client.api.pull(ref.name, tag=ref.tag, stream=True, decode=True, auth_config=auth)
            failure = next((str(event.get("error")) for event in events if "error" in event), "")
        except APIError as error:
            failure = str(error.explanation or error)
        if not failure:
            print(f"reusing the layers of {ref}, pulled from the registry", flush=True)
            return ref
        if not is_not_found(failure):
            reason = failure.strip().splitlines()[0] if failure.strip() else "no reason given"
            print(f"not reusing {ref} ({reason}); building without the registry's layers", flush=True)
            return None
    return None
