"""Build the serving image for a fetched model folder with the Docker SDK, tagged and labelled.

`run` checks a `BuildRequest` into a plan (tags from scripts.tags, labels from scripts.labels, the
int8 variant and its gate from scripts.quantize), builds an image per platform (scripts.image_build,
scripts.multiarch) and returns what it built as a `Built`; `main` is its command-line and Actions
edge. Tags and labels are deterministic, so a rebuild with nothing changed is served from the cache
and gives the same image id.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scripts import gha, labels, layer_cache, multiarch, provenance, quantize, samples, tags
from scripts.image_build import BuildPlan, BuildResult, ImageBuild, build_image
from scripts.image_ref import ImageRef
from scripts.provenance import Provenance
from scripts.push_index import PlatformImage
from scripts.registry import password_for
from serving.model_folder import MODEL_FILE, PROVENANCE_FILE, file_sha256

PROJECT_DIR = Path(__file__).resolve().parents[1]
_BASE_ARG = re.compile(r"^\s*ARG\s+BASE_IMAGE\s*=\s*(\S+)", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class BuildRequest:
    """The build step's inputs, typed; the defaults are the command line's."""

    model_dir: Path
    image_name: str
    tags: str = ""  # extra tags as the user gives them, comma- or newline-separated
    git_ref: str | None = None  # None: GITHUB_REF, else the checkout's branch
    git_sha: str | None = None  # None: GITHUB_SHA, else the checkout's HEAD
    default_branch: str = "main"
    base_image: str = ""  # "": the Dockerfile's
    source_url: str | None = None  # None: the GitHub repository's URL in Actions
    dockerfile: Path | None = None  # None: <project_dir>/Dockerfile
    project_dir: Path = PROJECT_DIR
    wheelhouse: Path | None = None  # None: <project_dir>/.wheelhouse
    username: str = ""  # the cache pull's registry user; the password is env REGISTRY_PASSWORD
    no_cache_from: bool = False
    quantize: str = ""
    max_abs_error: str = "0.01"
    max_rel_error: str = "0.01"
    samples: str = ""
    platforms: str = ""


@dataclass(frozen=True)
class Built:
    """What the step built: an image per platform, or none when the quantization gate failed."""

    plan: BuildPlan  # the checked inputs: every tag, the labels, the model folder, the gate
    images: tuple[ImageBuild, ...] = ()  # in the order of the platforms; one for a single build

    @property
    def passed(self) -> bool:
        """False when the quantization gate failed (nothing is built then)."""
        return self.plan.gate is None or self.plan.gate.passed

    @property
    def refs(self) -> tuple[ImageRef, ...]:
        """Every tag (output `tags`); several platforms' images carry them with `-<arch>`, their index
        without."""
        return self.plan.refs

    @property
    def image(self) -> ImageRef | None:
        """Output `image`, the first image's ref: refs[0], or for several platforms refs[0]-<arch>."""
        return self.images[0].plan.refs[0] if self.images else None

    @property
    def image_ids(self) -> tuple[str, ...]:
        return tuple(image.result.image_id for image in self.images)

    @property
    def image_id(self) -> str:
        """The first platform's image id ("" when nothing was built)."""
        return self.images[0].result.image_id if self.images else ""

    @property
    def platform_images(self) -> list[PlatformImage]:
        """What the push needs to write an index over several platforms' images (none for one)."""
        return multiarch.platform_images(self.images) if len(self.images) > 1 else []

    @property
    def model_dir(self) -> Path:
        """The folder the image holds: the quantized variant's, else the fetched one."""
        return self.plan.model_dir

    @property
    def labels(self) -> dict[str, str]:
        return self.plan.labels

    @property
    def base_image(self) -> str:
        """The first platform's base: the provenance statement names one (each is in platform-images)."""
        return self.images[0].plan.base_image if self.images else self.plan.base_image

    @property
    def base_image_id(self) -> str:
        return self.images[0].result.base_image_id if self.images else ""

    @property
    def base_image_digest(self) -> str:
        return self.images[0].result.base_image_digest if self.images else ""

    def outputs(self) -> dict[str, str]:
        """The step's outputs by their action names: the gate's, then the image's (none when not built)."""
        found = gate_outputs(self.plan.model_dir, self.plan.gate) if self.plan.gate else {}
        if self.image is None:
            return found
        first = self.images[0].result
        found |= {
            "image-id": self.image_id,
            "image": str(self.image),
            "tags": "\n".join(str(ref) for ref in self.refs),
            "labels": json.dumps(self.labels, sort_keys=True),
            "size-bytes": str(first.size_bytes),
            "base-image": self.base_image,
            "base-image-id": self.base_image_id,
            "base-image-digest": self.base_image_digest,
        }
        if len(self.images) > 1:
            return found | multiarch.outputs(self.images)
        return found | {"cache-from": str(first.cache_from or "")}


def registry_auth(username: str) -> dict[str, str] | None:
    """The pull credentials: --username with the password from env REGISTRY_PASSWORD (as the push step)."""
    password = password_for(username)
    return {"username": username, "password": password} if username else None


def dockerfile_default_base(text: str) -> str:
    """The default of `ARG BASE_IMAGE=...` in a Dockerfile ("" when it has none)."""
    match = _BASE_ARG.search(text)
    return match.group(1).strip("\"'") if match else ""


def check_model_dir(model_dir: Path) -> Provenance:
    """The model folder must be one the fetch step wrote, and every file its provenance.json lists
    unchanged since: the image holds exactly those files (image_build.stage_model)."""
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
    check_listed_files(model_dir, record, fetch_hint)
    return record


def check_listed_files(model_dir: Path, record: Provenance, fetch_hint: str) -> None:
    """Each file provenance.json lists must be in the folder with the sha256 it records, model.onnx's
    the record's `sha256` (the image's labels say so): one rule for the graph, its weights, the sidecars."""
    where = model_dir / PROVENANCE_FILE
    if not record.files:
        raise gha.StepError(f"{where} lists no files (an older modelship wrote it); {fetch_hint}")
    if record.files.get(MODEL_FILE) != record.sha256:
        listed = record.files.get(MODEL_FILE) or "nothing"
        raise gha.StepError(
            f"{where} gives {MODEL_FILE}'s sha256 as {record.sha256}, but its files list {listed}; "
            + fetch_hint
        )
    for name, recorded in record.files.items():
        path = model_dir / name
        inside = not PurePosixPath(name).is_absolute() and ".." not in PurePosixPath(name).parts
        if not inside or not path.is_file():
            raise gha.StepError(
                f"{where} lists {name!r}, which is not a file inside the model folder; {fetch_hint}"
            )
        actual = file_sha256(path)
        if actual != recorded:
            raise gha.StepError(
                f"{path} has sha256 {actual}, but {PROVENANCE_FILE} records {recorded}: the model folder "
                f"changed after it was fetched; {fetch_hint}"
            )


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


def plan(request: BuildRequest) -> BuildPlan:
    """Check the inputs and work out tags, labels and build arguments (no Docker yet)."""
    image_name = tags.check_image_name(request.image_name)
    project_dir = request.project_dir.resolve()
    dockerfile = request.dockerfile or project_dir / "Dockerfile"
    check_project(project_dir, dockerfile)
    model_dir = request.model_dir
    record = check_model_dir(model_dir)
    settings = quantize.parse_settings(request.quantize, request.max_abs_error, request.max_rel_error)
    samples_file = samples.locate(model_dir, request.samples) if settings else None
    auth = registry_auth(request.username)
    # Each of --git-ref and --git-sha: as given, else GitHub's variable, else the project's checkout.
    git_ref = request.git_ref
    if git_ref is None:
        git_ref = os.environ.get("GITHUB_REF") or local_git(project_dir, "symbolic-ref", "-q", "HEAD")
    git_sha = request.git_sha
    if git_sha is None:
        git_sha = os.environ.get("GITHUB_SHA") or local_git(project_dir, "rev-parse", "HEAD")
    image_tags = tags.compute_tags(
        model_version=record.version,
        git_ref=git_ref,
        git_sha=git_sha,
        explicit=gha.split_list(request.tags),
        default_branch=request.default_branch or "main",
    )
    if not image_tags:
        raise gha.StepError(f"no tags could be made: give the model a version, or {gha.input_name('tags')}")
    source_url = request.source_url
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
    if request.base_image:
        buildargs["BASE_IMAGE"] = request.base_image
    base_image = request.base_image or dockerfile_default_base(dockerfile.read_text(encoding="utf-8"))
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
        wheelhouse=request.wheelhouse or project_dir / ".wheelhouse",
        base_image=base_image,
        cache_candidates=layer_cache.candidates(image_name, refs, not request.no_cache_from),
        registry_auth=auth,
        gate=gate,
    )


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
    add_inputs(parser)
    return parser


def add_inputs(parser: gha.StepParser) -> None:
    """Every input of the build but the model folder (the pipeline's are these too)."""
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
    parser.add_input(
        "--samples", default="", help="sample payloads for the int8 gate (default: samples.json in the model)"
    )
    parser.add_input("--platforms", default="", help="linux/amd64 and/or linux/arm64 (default: the engine's)")


def request_from(args: argparse.Namespace, model_dir: Path) -> BuildRequest:
    """The typed request of the parsed inputs, for the model folder `model_dir`."""
    return BuildRequest(
        model_dir=model_dir,
        image_name=args.image_name or "",
        tags=args.tags or "",
        git_ref=args.git_ref,
        git_sha=args.git_sha,
        default_branch=args.default_branch or "main",
        base_image=args.base_image or "",
        source_url=args.source_url,
        dockerfile=Path(args.dockerfile) if args.dockerfile else None,
        project_dir=Path(args.project_dir),
        wheelhouse=Path(args.wheelhouse) if args.wheelhouse else None,
        username=args.username or "",
        no_cache_from=args.no_cache_from,
        quantize=args.quantize or "",
        max_abs_error=args.max_abs_error,
        max_rel_error=args.max_rel_error,
        samples=args.samples or "",
        platforms=args.platforms or "",
    )


def gate_outputs(model_dir: Path, gate: quantize.GateReport) -> dict[str, str]:
    """The quantization gate's outputs, and the variant's folder the image holds."""
    return {
        "model-dir": str(model_dir),
        "quantized": gate.settings.variant,
        "quantize-verdict": "pass" if gate.passed else "fail",
        "agreement": f"{gate.agreement.fraction:.4f}",
        "worst-abs-error": f"{gate.agreement.worst_abs_error:.6g}",
        "worst-rel-error": f"{gate.agreement.worst_rel_error:.6g}",
        "size-ratio": f"{gate.size_ratio:.3f}",
        "latency-ratio": f"{gate.latency_ratio:.3f}",
    }


def gate_failure(gate: quantize.GateReport) -> str:
    """The error of a failed quantization gate."""
    return f"the {gate.settings.variant} accuracy gate failed: {gate.verdict().lstrip('❌ ')}"


def build_images(checked: BuildPlan, platforms: str) -> Built:
    """Build an image per platform of `platforms` (the engine's own when empty); none after a failed gate."""
    if checked.gate and not checked.gate.passed:
        return Built(checked)
    plans = multiarch.plans_for(checked, platforms)
    return Built(checked, tuple(build_image(each) for each in plans))


def run(request: BuildRequest) -> Built:
    """Check the inputs, make the variant when asked, and build (see `build_images`); a failed build
    after a passed gate carries the gate (`StepError.partial`)."""
    checked = plan(request)
    try:
        return build_images(checked, request.platforms)
    except gha.StepError as error:
        if checked.gate:
            raise gha.StepError(str(error), error.exit_code, partial=Built(checked)) from error
        raise


def report(built: Built) -> None:
    """The gate's summary, the built image's or images', and a failed gate's error."""
    gate = built.plan.gate
    if gate:
        gha.add_summary(gate.summary())
        if not gate.passed:
            gha.report_error(gate_failure(gate))
    if len(built.images) > 1:
        gha.add_summary(multiarch.summary(built.images, built.refs))
    elif built.images:
        gha.add_summary(summary(built.images[0].plan, built.images[0].result))


def main(argv: list[str] | None = None) -> int:
    """Build the image and report its id, refs, labels and size."""
    args = build_parser().parse_args(argv)
    request = request_from(args, Path(args.model_dir))
    return gha.conclude(lambda: run(request), report)


if __name__ == "__main__":
    raise SystemExit(main())
