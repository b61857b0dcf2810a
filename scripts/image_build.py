"""One planned image build on the Docker engine: stage the context, stream the log, tag the image.

The build context is staged in a temporary folder with only what the Dockerfile needs (contract C):
`Dockerfile`, `serving/`, `requirements/serving.txt`, the wheelhouse as `.wheelhouse/` and, as
`model/`, exactly the model folder's files that its provenance.json lists.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import gha, layer_cache, multiarch
from scripts.docker_engine import connect
from scripts.image_ref import ImageRef
from scripts.platforms import Platform
from scripts.provenance import Provenance
from scripts.quantize import GateReport

LOG_TAIL_LINES = 25
_IGNORED = shutil.ignore_patterns(".*", "__pycache__", "*.pyc")
_STEP = re.compile(r"^Step \d+/\d+ : ")


@dataclass(frozen=True)
class BuildPlan:
    """Everything the build needs, checked before any work."""

    model_dir: Path
    record: Provenance
    image_name: ImageRef
    refs: tuple[ImageRef, ...]
    labels: dict[str, str]
    buildargs: dict[str, str]
    dockerfile: Path
    project_dir: Path
    wheelhouse: Path
    base_image: str
    cache_candidates: tuple[ImageRef, ...] = ()
    registry_auth: dict[str, str] | None = None
    gate: GateReport | None = None
    platform: Platform | None = None  # None: the engine's own, as Docker defaults


@dataclass(frozen=True)
class BuildResult:
    """The built image, what it was built from, and the pushed image whose layers it reused."""

    image_id: str
    size_bytes: int
    base_image_id: str = ""
    base_image_digest: str = ""
    cache_from: ImageRef | None = None


@dataclass(frozen=True)
class ImageBuild:
    """One built image and the plan it was built from (its platform's refs and base)."""

    plan: BuildPlan
    result: BuildResult


def _link_or_copy(source: str, destination: str) -> None:
    """Hard-link a file into the context (fast for big wheels and models), copying across filesystems."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def stage_context(build: BuildPlan, wheelhouse: Path, context: Path) -> None:
    """Lay out the build context of contract C in `context`."""
    shutil.copyfile(build.dockerfile, context / "Dockerfile")
    shutil.copytree(build.project_dir / "serving", context / "serving", ignore=_IGNORED)
    (context / "requirements").mkdir()
    shutil.copyfile(
        build.project_dir / "requirements" / "serving.txt", context / "requirements" / "serving.txt"
    )
    shutil.copytree(wheelhouse, context / ".wheelhouse", ignore=_IGNORED, copy_function=_link_or_copy)
    stage_model(build.model_dir, build.record, context / "model")


def stage_model(model_dir: Path, record: Provenance, staged: Path) -> None:
    """Link into `staged` exactly the files `record` lists, each checked by the build's plan against its
    sha256, whatever their names: an external-data location is any path relative to the model's folder
    (https://onnx.ai/onnx/repo-docs/ExternalData.html), and onnx.external_data_helper names a tensor's
    own file after the tensor, so `.w` is a data file, not a stray. Nothing else goes in: no stray file,
    and not provenance.json, whose fetch time would change the layer (its facts are labels already)."""
    staged.mkdir()
    for name in record.files or {}:  # the plan refused a record without a listing
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(model_dir / name), str(staged / name))


def stream_log(chunks: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """Turn the engine's decoded build stream into ("log"|"error"|"id", text) events."""
    for chunk in chunks:
        if "stream" in chunk:
            yield "log", str(chunk["stream"])
        elif "status" in chunk:
            yield "log", f"{chunk['status']} {chunk.get('progress', '')}".rstrip() + "\n"
        elif "error" in chunk or "errorDetail" in chunk:
            yield "error", str(chunk.get("error") or chunk["errorDetail"].get("message", ""))
        elif isinstance(chunk.get("aux"), dict) and chunk["aux"].get("ID"):
            yield "id", str(chunk["aux"]["ID"])


def failure_message(error: str, tail: Iterable[str], build: BuildPlan) -> str:
    """What to say when the engine reports a failed build: the error, the likely fix, the log tail."""
    lines = list(tail)
    steps = [line for line in lines if _STEP.match(line)]
    failed_at_from = bool(steps) and bool(re.search(r":\s*FROM\s", steps[-1], re.IGNORECASE))
    if failed_at_from or "pull access denied" in error:
        base = build.base_image or "the Dockerfile's BASE_IMAGE"
        hint = (
            f"the base image {base} is not on this engine and could not be pulled; build it "
            f"(tools/build-base-image) or pass {gha.input_name('base-image')} with one the engine has "
            "or can pull"
        )
    else:
        hint = "fix the failing Dockerfile step shown in the log"
    log = "\n".join(lines)
    return f"the image build failed: {error.strip()}; {hint}. Last lines of the build log:\n{log}"


def base_identity(client: Any, base_image: str) -> tuple[str, str]:
    """The base image's id and, when it came from a registry, its repository digest ("" when unknown)."""
    from docker.errors import DockerException

    if not base_image:
        return "", ""
    try:
        attrs = client.images.get(base_image).attrs
    except DockerException:
        return "", ""
    repo_digests = [str(entry) for entry in attrs.get("RepoDigests") or []]
    return str(attrs.get("Id") or ""), repo_digests[0] if repo_digests else ""


def run_build(client: Any, build: BuildPlan, context: Path, cache_from: ImageRef | None = None) -> str:
    """Build, print the log as it comes, and return the image id."""
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    image_id = ""
    from docker.errors import APIError

    try:
        chunks = client.api.build(
            path=str(context),
            dockerfile="Dockerfile",
            tag=str(build.refs[0]),
            buildargs=build.buildargs,
            labels=build.labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            cache_from=[str(cache_from)] if cache_from else None,
            platform=str(build.platform) if build.platform else None,
        )
        failure = ""
        for kind, text in stream_log(chunks):  # read to the end, even after an error, to free the connection
            if kind == "log":
                print(text, end="", flush=True)
                tail.extend(line for line in text.splitlines() if line.strip())
            elif kind == "error":
                failure = failure or text
            else:
                image_id = text
        if failure:
            raise gha.StepError(failure_message(failure, tail, build))
    except APIError as error:
        raise gha.StepError(failure_message(gha.first_line(error), tail, build)) from None
    if not image_id:
        raise gha.StepError(failure_message("the engine reported no image id", tail, build))
    return image_id


def build_image(build: BuildPlan) -> ImageBuild:
    """Stage the context, build, and tag the image with every ref."""
    from scripts import wheelhouse

    client = connect()
    try:
        machine = build.platform.wheel_machine if build.platform else ""
        wheels = wheelhouse.ensure(
            build.wheelhouse, build.project_dir / "requirements" / "serving.txt", machine
        )
        if build.platform:
            multiarch.check_base(client, build.base_image, build.platform)
        cache_from = layer_cache.pull_previous(client, build.cache_candidates, build.registry_auth)
        with tempfile.TemporaryDirectory(prefix="modelship-build-") as temporary:
            context = Path(temporary)
            stage_context(build, wheels, context)
            image_id = run_build(client, build, context, cache_from)
        image = client.images.get(image_id)
        if build.platform:
            multiarch.check_built(image.attrs, build.platform)
        for ref in build.refs[1:]:
            image.tag(ref.familiar_name, ref.tag)
        base_id, base_digest = base_identity(client, build.base_image)
        result = BuildResult(
            image_id=image_id,
            size_bytes=int(image.attrs.get("Size") or 0),
            base_image_id=base_id,
            base_image_digest=base_digest,
            cache_from=cache_from,
        )
        return ImageBuild(build, result)
    finally:
        client.close()
