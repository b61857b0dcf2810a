"""Image references: the one type that travels from build to push, and the one parser that makes it.

The grammar is the distribution reference's, `name[:tag][@digest]`, with the patterns of
github.com/distribution/reference `regexp.go` (read at commit 0965666a, 2026-04-18). A name's first
element is a registry host when `normalize.go` `splitDockerDomain` says so: it holds a `.` or a `:`,
is `localhost`, or has an upper-case letter; otherwise the name is on Docker Hub, where a one-element
name gets `library/` before it. `str()` spells a reference as Docker does (`FamiliarString`): without
`docker.io/` and `library/`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from scripts.gha import StepError

DOCKER_HUB = "docker.io"
_LEGACY_HUB = "index.docker.io"  # normalize.go's legacyDefaultDomain, the same registry
_OFFICIAL = "library/"
MAX_TAG_LENGTH = 128
MAX_NAME_LENGTH = 255  # reference.go RepositoryNameTotalLengthMax: the repository path, host excluded

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?")
REPOSITORY = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # Go's `[\w][\w.-]{0,127}`; its \w is ASCII
DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: registry host, repository path, and tag and/or digest."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """`registry/repository`, fully qualified: what a push or pull names."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it: without `docker.io/`, and `library/` before a one-element name."""
        if self.registry != DOCKER_HUB:
            return self.name
        short = self.repository.removeprefix(_OFFICIAL)
        return short if "/" not in short else self.repository

    def with_tag(self, tag: str) -> ImageRef:
        """This name with `tag` (and no digest)."""
        return dataclasses.replace(self, tag=tag, digest="")

    def __str__(self) -> str:
        return (
            self.familiar_name
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )


def split(text: str) -> ImageRef:
    """Cut `[registry/]repository[:tag][@digest]` into its parts, unchecked (see `problems`)."""
    name, _, digest = text.strip().partition("@")
    tag = ""
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    first, slash, rest = name.partition("/")
    if slash and (first == "localhost" or ":" in first or "." in first or first.lower() != first):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry == _LEGACY_HUB:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = _OFFICIAL + repository
    return ImageRef(registry, repository, tag, digest)


def problems(ref: ImageRef) -> list[str]:
    """What in `ref` breaks the grammar, each a phrase naming the part and the rule."""
    found = []
    if not DOMAIN.fullmatch(ref.registry):
        found.append(f"registry host {ref.registry!r} is not a valid host[:port]")
    if not REPOSITORY.fullmatch(ref.repository):
        found.append(
            f"repository {ref.repository!r} must be lowercase letters, digits and separators (. _ - /)"
        )
    elif len(ref.repository) > MAX_NAME_LENGTH:
        found.append(f"repository {ref.repository!r} is longer than {MAX_NAME_LENGTH} characters")
    if ref.tag and not TAG.fullmatch(ref.tag):
        found.append(
            f"tag {ref.tag!r} must be 1-{MAX_TAG_LENGTH} of letters, digits, '_', '.', '-' "
            "(not starting with . or -)"
        )
    if ref.digest and not DIGEST.fullmatch(ref.digest):
        found.append(f"digest {ref.digest!r} is not <algorithm>:<hex>, like sha256:<64 hex digits>")
    return found


def parse_ref(text: str, what: str = "image reference") -> ImageRef:
    """Parse and check a reference; `what` names it in the error (like "input 'tags' holds")."""
    ref = split(text)
    found = problems(ref)
    if found:
        raise StepError(f"{what} {text.strip()!r} is not valid: " + "; ".join(found))
    return ref
