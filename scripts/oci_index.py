"""One tag for several platforms: an OCI image index over images already pushed by digest.

The index is the JSON document of the OCI image spec (image-index.md: `schemaVersion` 2, `mediaType`
application/vnd.oci.image.index.v1+json, one descriptor with `platform` per image). It is written with
the distribution spec's manifest push, `PUT /v2/<name>/manifests/<tag>` with the index's media type as
Content-Type, after every image it lists is in the repository
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from scripts.gha import StepError
from scripts.platforms import Platform, by_architecture
from scripts.registry import IMAGE_TYPES, INDEX_TYPE, RegistryAPI


@dataclass(frozen=True)
class Descriptor:
    """A pushed image manifest, as an index lists it."""

    media_type: str
    digest: str
    size: int
    platform: Platform

    def as_json(self) -> dict[str, object]:
        """The index's descriptor object."""
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "platform": self.platform.index_entry(),
        }


def index_document(descriptors: list[Descriptor]) -> bytes:
    """The serialized index over `descriptors` (their order kept; one per platform)."""
    platforms = [str(descriptor.platform) for descriptor in descriptors]
    if len(set(platforms)) != len(platforms):
        raise StepError(f"an image index lists each platform once, got {', '.join(platforms)}")
    document = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [descriptor.as_json() for descriptor in descriptors],
    }
    return json.dumps(document, indent=2).encode()


def describe(api: RegistryAPI, repository: str, digest: str, platform: Platform) -> Descriptor:
    """The descriptor of the image manifest `digest` in `repository`, checked to be for `platform`."""
    media_type, body = api.get_manifest(repository, digest, IMAGE_TYPES)
    if media_type not in IMAGE_TYPES:
        raise StepError(
            f"{repository}@{digest} is a {media_type or 'manifest of unknown type'}, not an image manifest; "
            "an index can only list single-platform images"
        )
    config_digest = json.loads(body)["config"]["digest"]
    config = json.loads(api.get_blob(repository, config_digest))
    actual = by_architecture(str(config.get("architecture", "")))
    if actual != platform:
        raise StepError(
            f"{repository}@{digest} is an image for {actual}, not {platform}: the build used a base image "
            "of the wrong architecture"
        )
    return Descriptor(media_type, digest, len(body), platform)


def put_index(api: RegistryAPI, repository: str, tag: str, descriptors: list[Descriptor]) -> str:
    """Write the index under `repository:tag` and return its digest."""
    document = index_document(descriptors)
    digest = api.put_manifest(repository, tag, INDEX_TYPE, document)
    expected = "sha256:" + hashlib.sha256(document).hexdigest()
    if digest and digest != expected:
        raise StepError(
            f"registry {api.host} stored the index of {repository}:{tag} as {digest}, not {expected}"
        )
    return expected


def resolved_platforms(api: RegistryAPI, repository: str, tag: str) -> list[str]:
    """The platforms `repository:tag` resolves to, as a client pulling it sees them."""
    media_type, body = api.get_manifest(repository, tag, (INDEX_TYPE, *IMAGE_TYPES))
    if media_type != INDEX_TYPE:
        return []
    entries = json.loads(body).get("manifests") or []
    return [f"{entry['platform']['os']}/{entry['platform']['architecture']}" for entry in entries]
