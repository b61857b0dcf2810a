"""Build the serving image for a fetched model folder with the Docker SDK, tagged and labelled.

The build context is staged in a temporary folder with only what the Dockerfile needs (contract C):
`Dockerfile`, `serving/`, `requirements/serving.txt`, the wheelhouse as `.wheelhouse/` and the model
folder as `model/`. Tags come from scripts.tags, labels from scripts.labels; both are deterministic,
so a rebuild with nothing changed is served from the cache and gives the same image id.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import gha, labels, layer_cache, multiarch, provenance, quantize, samples, tags
from scripts.docker_engine import connect
from scripts.image_ref import ImageRef
from scripts.platforms import Platform
from scripts.provenance import Provenance
from scripts.registry import password_for
from serving.model_folder import MODEL_FILE, PROVENANCE_FILE, file_sha256

PROJECT_DIR = Path(__file__).resolve().parents[1]
LOG_TAIL_LINES = 25
_IGNORED = shutil.ignore_patterns(".*", "__pycache__", "*.pyc")
# provenance.json holds the fetch time; its facts are labels already, and in a layer it would change
# the image on every fresh fetch.
_MODEL_IGNORED = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", PROVENANCE_FILE)
_STEP = re.compile(r"^Step \d+/\d+ : ")
_BASE_ARG = re.compile(r"^\s*ARG\s+BASE_IMAGE\s*=\s*(\S+)", re.MULTILINE | re.IGNORECASE)


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
    gate: quantize.GateReport | None = None
    platform: Platform | None = None  # None: the engine's own, as Docker defaults


@dataclass(frozen=True)
class BuildResult:
    """The built image, what it was built from, and the pushed image whose layers it reused."""

    image_id: str
    size_bytes: int
    base_image_id: str = ""
    base_image_digest: str = ""
    cache_from: ImageRef | None = None


def registry_auth(username: str) -> dict[str, str] | None:
    """The pull credentials: --username with the password from env REGISTRY_PASSWORD (as the push step)."""
    password = password_for(username)
    return {"username": username, "password": password} if username else None


def dockerfile_default_base(text: str) -> str:
    """The default of `ARG BASE_IMAGE=...` in a Dockerfile ("" when it has none)."""
    match = _BASE_ARG.search(text)
    return match.group(1).strip("\"'") if match else ""


def check_model_dir(model_dir: Path) -> Provenance:
    """The model folder must be one the fetch step wrote, and unchanged since."""
    fetch_hint = f"run `python -m scripts.fetch --source local --model <model> --dest {model_dir}` first"
    if not model_dir.is_dir():
        raise gha.StepError(f"{gha.input_name('model-dir')} ({model_dir}) is not a folder; {fetch_hint}")
    model_file = model_dir / MODEL_FILE
    if not model_file.is_file():
        raise gha.StepError(
            f"{gha.input_name('model-dir')} ({model_dir}) has no {MODEL_FILE}: it is not a model folder; "
            + fetch_hint
        )
    record = provenance.read(model_dir)
    actual = file_sha256(model_file)
    if actual != record.sha256:
        raise gha.StepError(
            f"{model_file} has sha256 {actual}, but {PROVENANCE_FILE} records {record.sha256}: the model "
            f"changed after it was fetched; {fetch_hint}"
        )
    return record


def check_project(project_dir: Path, dockerfile: Path) -> None:
    """The project folder must hold what the build context is made of."""
    for needed in ("serving", "requirements/serving.txt"):
        if not (project_dir / needed).exists():
            raise gha.StepError(
                f"{gha.input_name('project-dir')} ({project_dir}) has no {needed}; "
                "point it at the modelship checkout"
            )
    if not dockerfile.is_file():
        raise gha.StepError(
            f"{gha.input_name('dockerfile')} ({dockerfile}) is not a file; point it at the serving Dockerfile"
        )


def local_git(project_dir: Path, *args: str) -> str:
    """Output of a git command in the project folder, "" when git or the repository is not there."""
    try:
        done = subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def plan(args: Any) -> BuildPlan:
    """Check the inputs and work out tags, labels and build arguments (no Docker yet)."""
    image_name = tags.check_image_name(args.image_name or "")
    project_dir = Path(args.project_dir).resolve()
    dockerfile = Path(args.dockerfile) if args.dockerfile else project_dir / "Dockerfile"
    check_project(project_dir, dockerfile)
    model_dir = Path(args.model_dir)
    record = check_model_dir(model_dir)
    settings = quantize.parse_settings(args.quantize or "", args.max_abs_error, args.max_rel_error)
    samples_file = samples.locate(model_dir, args.samples or "") if settings else None
    auth = registry_auth(args.username or "")
    # Each of --git-ref and --git-sha: as given, else GitHub's variable, else the project's checkout.
    git_ref = args.git_ref
    if git_ref is None:
        git_ref = os.environ.get("GITHUB_REF") or local_git(project_dir, "symbolic-ref", "-q", "HEAD")
    git_sha = args.git_sha
    if git_sha is None:
        git_sha = os.environ.get("GITHUB_SHA") or local_git(project_dir, "rev-parse", "HEAD")
    image_tags = tags.compute_tags(
        model_version=record.version,
        git_ref=git_ref,
        git_sha=git_sha,
        explicit=gha.split_list(args.tags),
        default_branch=args.default_branch or "main",
    )
    if not image_tags:
        raise gha.StepError(f"no tags could be made: give the model a version, or {gha.input_name('tags')}")
    source_url = args.source_url
    if source_url is None and os.environ.get("GITHUB_SERVER_URL") and os.environ.get("GITHUB_REPOSITORY"):
        source_url = f"{os.environ['GITHUB_SERVER_URL']}/{os.environ['GITHUB_REPOSITORY']}"
    # The commit being built is in the working directory's checkout (the caller's repository in Actions).
    commit_epoch = local_git(Path.cwd(), "show", "-s", "--format=%ct", git_sha) if git_sha else ""
    created = labels.created_time(os.environ.get("SOURCE_DATE_EPOCH"), record.fetched_at, commit_epoch)
    gate = None
    if settings:  # last, after every cheap check: the variant is built from here on
        requests = [sample.request for sample in samples.load(samples_file)]
        model_dir, record, gate = quantize.make_variant(model_dir, record, settings, requests)
        image_tags = tags.with_suffix(image_tags, quantize.TAG_SUFFIX[settings.variant])
    buildargs = {
        "MODEL_NAME": record.name,
        "MODEL_VERSION": record.version,
        "MODEL_SHA256": record.sha256,
    }
    if args.base_image:
        buildargs["BASE_IMAGE"] = args.base_image
    base_image = args.base_image or dockerfile_default_base(dockerfile.read_text(encoding="utf-8"))
    refs = tuple(tags.full_refs(image_name, image_tags))
    return BuildPlan(
        model_dir=model_dir,
        record=record,
        image_name=image_name,
        refs=refs,
        labels=labels.image_labels(record, created=created, source_url=source_url or "", revision=git_sha),
        buildargs=buildargs,
        dockerfile=dockerfile,
        project_dir=project_dir,
        wheelhouse=Path(args.wheelhouse) if args.wheelhouse else project_dir / ".wheelhouse",
        base_image=base_image,
        cache_candidates=layer_cache.candidates(image_name, refs, not args.no_cache_from),
        registry_auth=auth,
        gate=gate,
    )


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
    shutil.copytree(build.model_dir, context / "model", ignore=_MODEL_IGNORED, copy_function=_link_or_copy)


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


def build_image(build: BuildPlan) -> BuildResult:
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
        return BuildResult(
            image_id=image_id,
            size_bytes=int(image.attrs.get("Size") or 0),
            base_image_id=base_id,
            base_image_digest=base_digest,
            cache_from=cache_from,
        )
    finally:
        client.close()


def summary(build: BuildPlan, result: BuildResult) -> str:
    """The verdict-first Markdown summary."""
    megabytes = result.size_bytes / 1e6
    record = build.record
    rows = [
        ("image id", f"`{result.image_id}`"),
        ("size", f"{megabytes:.1f} MB ({result.size_bytes:,} bytes)"),
        ("model", f"{record.name} {record.version} from {record.source} (sha256 `{record.sha256[:12]}…`)"),
        ("base image", f"`{build.base_image}`" if build.base_image else "the Dockerfile's default"),
        ("layers reused from", f"`{result.cache_from}`" if result.cache_from else "this engine's cache only"),
        ("tags", "<br>".join(f"`{ref}`" for ref in build.refs)),
    ]
    table = gha.key_value_table(rows)
    return f"### ✅ Built `{build.refs[0]}`\n\n{table}\n\n" + gha.details(
        "labels", json.dumps(build.labels, indent=2, sort_keys=True), "json"
    )


def build_parser() -> gha.StepParser:
    """The step's inputs (contract D)."""
    parser = gha.StepParser(prog="build", description=__doc__.splitlines()[0])
    parser.add_input("--model-dir", required=True, help="a model folder written by the fetch step")
    parser.add_input("--image-name", required=True, help="repository, e.g. 127.0.0.1:5000/team/housing")
    parser.add_input("--tags", help="extra tags, comma- or newline-separated")
    parser.add_input("--git-ref", help="git ref for tags (default: GITHUB_REF, else the checkout's branch)")
    parser.add_input("--git-sha", help="commit for the sha tag and revision label (default: GITHUB_SHA/HEAD)")
    parser.add_input("--default-branch", default="main", help="the branch that gets `latest` (default main)")
    parser.add_input("--base-image", help="BASE_IMAGE build argument (default: the Dockerfile's)")
    parser.add_input("--source-url", help="source label (default: the GitHub repository URL in Actions)")
    parser.add_input("--dockerfile", help="the serving Dockerfile (default: <project-dir>/Dockerfile)")
    parser.add_input("--project-dir", default=str(PROJECT_DIR), help="folder with serving/ and requirements/")
    parser.add_input("--wheelhouse", help="wheel cache folder (default: <project-dir>/.wheelhouse)")
    parser.add_input("--username", help="registry user for the cache pull (password: REGISTRY_PASSWORD)")
    parser.add_flag("--no-cache-from", help="do not pull the image last pushed under this name for its cache")
    parser.add_input("--quantize", default="", help="build this variant of the model: int8 (default: none)")
    parser.add_input("--max-abs-error", default="0.01", help="int8 gate: absolute error allowed per number")
    parser.add_input("--max-rel-error", default="0.01", help="int8 gate: relative error allowed per number")
    parser.add_input("--samples", default="", help="int8 gate's samples (default: samples.json in the model)")
    parser.add_input("--platforms", default="", help="linux/amd64 and/or linux/arm64 (default: the engine's)")
    return parser


def publish_gate(build: BuildPlan) -> None:
    """The quantization gate's outputs and summary; a failed gate stops the step before the build."""
    gate = build.gate
    assert gate is not None
    gha.set_output("model-dir", build.model_dir)
    gha.set_output("quantized", gate.settings.variant)
    gha.set_output("quantize-verdict", "pass" if gate.passed else "fail")
    gha.set_output("agreement", f"{gate.agreement.fraction:.4f}")
    gha.set_output("worst-abs-error", f"{gate.agreement.worst_abs_error:.6g}")
    gha.set_output("worst-rel-error", f"{gate.agreement.worst_rel_error:.6g}")
    gha.set_output("size-ratio", f"{gate.size_ratio:.3f}")
    gha.set_output("latency-ratio", f"{gate.latency_ratio:.3f}")
    gha.add_summary(gate.summary())
    if not gate.passed:
        raise gha.StepError(
            f"the {gate.settings.variant} accuracy gate failed: {gate.verdict().lstrip('❌ ')}"
        )


def main(argv: list[str] | None = None) -> int:
    """Build the image and report its id, refs, labels and size."""
    args = build_parser().parse_args(argv)
    with gha.step_errors():
        build = plan(args)
        if build.gate:
            publish_gate(build)
        plans = multiarch.plans_for(build, args.platforms)
        results = [build_image(each) for each in plans]
        if len(plans) > 1:
            multiarch.publish(plans, results, build.refs)
            return 0
        build, result = plans[0], results[0]
    gha.set_output("image-id", result.image_id)
    gha.set_output("image", build.refs[0])
    gha.set_output("tags", "\n".join(str(ref) for ref in build.refs))
    gha.set_output("labels", json.dumps(build.labels, sort_keys=True))
    gha.set_output("size-bytes", result.size_bytes)
    gha.set_output("base-image", build.base_image)
    gha.set_output("base-image-id", result.base_image_id)
    gha.set_output("base-image-digest", result.base_image_digest)
    gha.set_output("cache-from", result.cache_from or "")
    gha.add_summary(summary(build, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
