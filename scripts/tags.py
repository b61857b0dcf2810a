"""Image tags from the model version, the git ref and sha, and explicit tags (pure).

Semantic versions expand (`1.2.3` -> `1.2.3`, `1.2`, `1`; a pre-release only gives itself; a
`0.x` version gives no bare `0`), branches become their sanitized name, pull requests `pr-N`, the
commit `sha-<7 hex>`, and `latest` is added only on the default branch. Every tag is lowercase,
made of `[a-z0-9_.-]`, at most 128 characters, and listed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from scripts import gha
from scripts.image_ref import MAX_TAG_LENGTH, TAG, ImageRef, problems, split

_NOT_TAG_CHARS = re.compile(r"[^a-z0-9_.-]+")
_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_PULL = re.compile(r"^refs/pull/(?P<number>\d+)/(?:merge|head)$")


def sanitize(text: str) -> str:
    """Make any text a valid tag: lowercase, other characters as `-`, no leading `.`/`-`, 128 max."""
    tag = _NOT_TAG_CHARS.sub("-", text.strip().lower()).lstrip(".-")
    return tag[:MAX_TAG_LENGTH].rstrip("-")


def semver_tags(version: str) -> list[str] | None:
    """`1.2.3` -> [`1.2.3`, `1.2`, `1`]; a pre-release only itself; None when not a semantic version."""
    match = _SEMVER.match(version.strip())
    if match is None:
        return None
    major, minor, patch = match["major"], match["minor"], match["patch"]
    full = f"{major}.{minor}.{patch}"
    if match["pre"] or match["build"]:
        suffix = (f"-{match['pre']}" if match["pre"] else "") + (
            f"_{match['build']}" if match["build"] else ""
        )
        return [sanitize(full + suffix)]
    floating = [f"{major}.{minor}"] + ([major] if major != "0" else [])
    return [full, *floating]


def version_tags(version: str) -> list[str]:
    """The tags a version gives: semver-aware, otherwise the version itself, sanitized."""
    expanded = semver_tags(version)
    if expanded is not None:
        return expanded
    tag = sanitize(version)
    return [tag] if tag else []


def ref_tags(git_ref: str, default_branch: str) -> list[str]:
    """The tags a git ref gives: a branch its name (plus `latest` on the default one), a tag its version."""
    ref = git_ref.strip()
    if not ref:
        return []
    if ref.startswith("refs/tags/"):
        return version_tags(ref.removeprefix("refs/tags/"))
    pull = _PULL.match(ref)
    if pull:
        return [f"pr-{pull['number']}"]
    if ref.startswith("refs/") and not ref.startswith("refs/heads/"):
        tag = sanitize(ref.removeprefix("refs/"))
        return [tag] if tag else []
    branch = ref.removeprefix("refs/heads/")
    tag = sanitize(branch)
    tags = [tag] if tag else []
    if default_branch and branch == default_branch.strip().removeprefix("refs/heads/"):
        tags.append("latest")
    return tags


def sha_tag(git_sha: str) -> list[str]:
    """`sha-` and the first 7 characters of the commit."""
    short = sanitize(git_sha)[:7]
    return [f"sha-{short}"] if short else []


def check_explicit(tags: Iterable[str]) -> list[str]:
    """Explicit tags, lowercased; a tag that is not valid is an error, not silently rewritten."""
    checked = []
    for tag in tags:
        lowered = tag.strip().lower()
        if ":" in lowered or "/" in lowered or "@" in lowered:
            raise gha.StepError(
                f"{gha.input_name('tags')} holds {tag!r}: give tags only (like `stable`), "
                f"the repository comes from {gha.input_name('image-name')}"
            )
        if not TAG.fullmatch(lowered):
            raise gha.StepError(
                f"{gha.input_name('tags')} holds {tag!r}, which is not a valid tag: "
                f"up to {MAX_TAG_LENGTH} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            )
        checked.append(lowered)
    return checked


def compute_tags(
    *,
    model_version: str,
    git_ref: str = "",
    git_sha: str = "",
    explicit: Iterable[str] = (),
    default_branch: str = "main",
) -> list[str]:
    """All tags for the image, most specific first, each once; `latest` comes last when present."""
    tags = [
        *version_tags(model_version),
        *ref_tags(git_ref, default_branch),
        *sha_tag(git_sha),
        *check_explicit(explicit),
    ]
    unique = list(dict.fromkeys(tags))
    if "latest" in unique:
        unique.remove("latest")
        unique.append("latest")
    return unique


def check_image_name(image_name: str) -> ImageRef:
    """A repository name like `127.0.0.1:5000/team/housing`, without tag or digest, or a clear error."""
    name = image_name.strip()
    if not name:
        raise gha.StepError(
            f"{gha.input_name('image-name')} is required, like `housing` or `127.0.0.1:5000/team/housing`"
        )
    ref = split(name)
    if ref.tag or ref.digest:
        raise gha.StepError(
            f"{gha.input_name('image-name')} ({name}) must not carry a tag or digest; "
            f"tags come from the model version, the git ref and {gha.input_name('tags')}"
        )
    found = problems(ref)
    if found:
        hint = f" (try {name.lower()})" if not problems(split(name.lower())) else ""
        raise gha.StepError(
            f"{gha.input_name('image-name')} ({name}) is not a valid repository name{hint}: "
            + "; ".join(found)
        )
    return ref


def full_refs(image_name: ImageRef, tags: Iterable[str]) -> list[ImageRef]:
    """The name with each tag."""
    return [image_name.with_tag(tag) for tag in tags]


def with_suffix(tags: Iterable[str], suffix: str) -> list[str]:
    """Each tag with a variant's suffix (`1.2.0` -> `1.2.0-int8`), so variants share one repository."""
    return [f"{tag}{suffix}" for tag in tags]
