"""The build step: input checks without Docker, then real builds on the Docker engine (marked `docker`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import numpy as np
import pytest

from scripts import build, fetch, gha
from tests.steps import StepRun, run_step

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT / "examples" / "housing"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def step_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GITHUB_OUTPUT/GITHUB_STEP_SUMMARY in tmp_path, and no CI variables leaking into tags and labels."""
    for name in ("GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_SHA", "GITHUB_SERVER_URL", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step_summary"))
    return tmp_path


def run_build(files: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> StepRun:
    """Run the step in-process and expect it to pass."""
    built = run_step(build.main, argv, files, monkeypatch)
    assert built.code == 0, built.out + built.err
    return built


def build_fails(*argv: str) -> None:
    """Run the step in-process and expect a clean failure (exit 1)."""
    with pytest.raises(SystemExit) as exit_info:
        build.main(list(argv))
    assert exit_info.value.code == 1


def fetched(dest: Path, source: Path = EXAMPLE) -> Path:
    """A model (the housing example unless told) fetched into `dest` by the real fetch step."""
    assert fetch.main(["--source", "local", "--model", str(source), "--dest", str(dest)]) == 0
    return dest


def option(argv: Sequence[str], name: str) -> str:
    """The value given to `name` in an argv list."""
    return argv[list(argv).index(name) + 1]


def lopsided_model(folder: Path) -> Path:
    """A one-MatMul model whose int8 variant fails the gate (tests/test_quantize.py's lopsided one)."""
    from tests.test_quantize import matmul_model  # not at the top: test_quantize imports this module

    weights = np.full((4, 3), 0.001)
    weights[0, 0] = 1000.0
    return matmul_model(folder, weights)


def smooth_model(folder: Path) -> Path:
    """A one-MatMul model whose int8 variant passes the gate at 5% (test_quantize's smooth one)."""
    from tests.test_quantize import matmul_model

    return matmul_model(folder, np.linspace(0.5, 2.0, 12).reshape(4, 3))


# --- checks that need no Docker ------------------------------------------------------------------


def test_model_dir_that_does_not_exist(step_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fails("--model-dir", str(step_env / "nowhere"), "--image-name", "housing")
    message = capsys.readouterr().err
    assert f"--model-dir ({step_env / 'nowhere'}) is not a folder; run `python -m scripts.fetch" in message


def test_model_dir_without_model_onnx(step_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (step_env / "empty").mkdir()
    build_fails("--model-dir", str(step_env / "empty"), "--image-name", "housing")
    assert (
        "has no model.onnx: it is not a model folder; run `python -m scripts.fetch" in capsys.readouterr().err
    )


def test_model_dir_without_provenance(step_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = step_env / "unfetched"
    folder.mkdir()
    (folder / "model.onnx").write_bytes((EXAMPLE / "model.onnx").read_bytes())
    build_fails("--model-dir", str(folder), "--image-name", "housing")
    message = capsys.readouterr().err
    assert "provenance.json does not exist" in message
    assert "run `python -m scripts.fetch --source local" in message


@pytest.mark.parametrize("name", ["model.onnx", "samples.json", "modelship.json"])
def test_a_listed_file_changed_after_fetch_is_named(
    step_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    folder = fetched(step_env / "model")
    recorded = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))["files"][name]
    (folder / name).write_bytes(b"tampered")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # refused before Docker
    build_fails("--model-dir", str(folder), "--image-name", "housing")
    message = capsys.readouterr().err
    assert f"{folder / name} has sha256 {hashlib.sha256(b'tampered').hexdigest()}, but " in message
    assert f"provenance.json records {recorded}: the model folder changed after it was fetched; " in message
    assert "run `python -m scripts.fetch --source local" in message


def edit_listing(folder: Path, edit: Callable[[dict[str, str]], object]) -> None:
    """Change the files provenance.json lists, as a hand edit or an older modelship would leave them."""
    record = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    edit(record["files"])
    if not record["files"]:
        del record["files"]
    (folder / "provenance.json").write_text(json.dumps(record), encoding="utf-8")


def listing_with(name: str, case: str) -> object:
    """A test case: provenance.json lists `name`, which is no file inside the folder."""
    return pytest.param(
        lambda files: files.update({name: "0" * 64}),
        f"lists {name!r}, which is not a file inside the model folder; ",
        id=case,
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            lambda files: files.clear(), "lists no files (an older modelship wrote it); ", id="none"
        ),
        listing_with("../outside.bin", "outside"),
        listing_with("/etc/hostname", "absolute"),
        listing_with("weights.bin", "missing"),
        pytest.param(lambda files: files.pop("model.onnx"), "gives model.onnx's sha256 as ", id="no-model"),
    ],
)
def test_a_listing_that_is_not_the_folder_is_refused(
    step_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[dict[str, str]], object],
    expected: str,
) -> None:
    folder = fetched(step_env / "model")
    edit_listing(folder, edit)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # refused before Docker
    build_fails("--model-dir", str(folder), "--image-name", "housing")
    message = capsys.readouterr().err
    assert f"{folder / 'provenance.json'} {expected}" in message
    assert "run `python -m scripts.fetch --source local" in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--image-name", "Team/Housing"], "not a valid repository name", id="bad-image-name"),
        pytest.param(["--image-name", "housing:1"], "must not carry a tag", id="image-name-with-tag"),
        pytest.param(["--image-name", "h", "--tags", "a b"], "--tags holds 'a b'", id="bad-tag"),
        pytest.param(
            ["--image-name", "h", "--dockerfile", "/nonexistent/Dockerfile"],
            "--dockerfile (/nonexistent/Dockerfile) is not a file",
            id="dockerfile",
        ),
        pytest.param(["--image-name", "h", "--project-dir", "/"], "has no serving", id="project-dir"),
    ],
)
def test_invalid_inputs_are_refused_before_docker(
    step_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    expected: str,
) -> None:
    folder = fetched(step_env / "model")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves Docker is never reached
    build_fails("--model-dir", str(folder), *argv)
    message = capsys.readouterr().err
    assert expected in message
    assert "Docker engine" not in message


def test_docker_engine_unreachable(
    step_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fetched(step_env / "model")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{step_env}/no-docker.sock")
    build_fails("--model-dir", str(folder), "--image-name", "housing")
    message = capsys.readouterr().err
    assert f"cannot reach the Docker engine at unix://{step_env}/no-docker.sock" in message
    assert "start dockerd" in message
    assert "check DOCKER_HOST" in message


@pytest.mark.parametrize(
    ("request_of", "expected"),
    [
        pytest.param(
            lambda folder: build.BuildRequest(folder.parent / "nowhere", "housing"),
            "--model-dir ({parent}/nowhere) is not a folder; run `python -m scripts.fetch",
            id="model-dir",
        ),
        pytest.param(
            lambda folder: build.BuildRequest(folder, "Team/Housing"),
            "not a valid repository name",
            id="image-name",
        ),
        pytest.param(
            lambda folder: build.BuildRequest(folder, "h", quantize="int8", max_rel_error="5%"),
            "--max-rel-error must be a number, not '5%'",
            id="threshold",
        ),
    ],
)
def test_run_refuses_bad_requests_without_main(
    step_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    request_of: Callable[[Path], build.BuildRequest],
    expected: str,
) -> None:
    folder = fetched(step_env / "model")
    for written_by_fetch in ("github_output", "step_summary"):
        (step_env / written_by_fetch).unlink()  # run must write none of its own
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves Docker is never reached
    with pytest.raises(gha.StepError) as refused:
        build.run(request_of(folder))
    assert expected.format(parent=step_env) in str(refused.value)
    assert not (step_env / "github_output").exists()
    assert not (step_env / "step_summary").exists()


def test_run_returns_a_failed_gate_and_its_outputs_without_building(
    step_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fetched(step_env / "m", lopsided_model(step_env / "lopsided"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # proves Docker is never reached
    built = build.run(build.BuildRequest(model, "lopsided", quantize="int8"))
    assert not built.passed
    assert (built.images, built.image_ids, built.image_id, built.platform_images) == ((), (), "", [])
    assert built.model_dir == step_env / "m-int8"
    outputs = built.outputs()
    assert outputs["model-dir"] == str(step_env / "m-int8")
    assert (outputs["quantized"], outputs["quantize-verdict"]) == ("int8", "fail")
    assert "image-id" not in outputs
    argv = ["--model-dir", str(model), "--image-name", "lopsided", "--quantize", "int8"]
    by_main = run_step(build.main, argv, step_env, monkeypatch)
    assert by_main.code == 1
    assert "error: the int8 accuracy gate failed" in by_main.err
    del outputs["latency-ratio"], by_main.outputs["latency-ratio"]  # a timing: differs between runs
    assert outputs == by_main.outputs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n", "python:3.11-slim", id="plain"),
        pytest.param('# c\narg base_image="reg:5000/py:1"\n', "reg:5000/py:1", id="quoted-lowercase"),
        pytest.param("FROM debian\n", "", id="none"),
    ],
)
def test_dockerfile_default_base(text: str, expected: str) -> None:
    assert build.dockerfile_default_base(text) == expected


# --- real builds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltImage:
    """The image the module builds once, and how it was built."""

    argv: tuple[str, ...]
    outputs: dict[str, str]
    summary: str
    model_dir: Path
    image_name: str


def snapshot_project(dest: Path) -> Path:
    """A copy of what the build context is made of, so edits in the checkout cannot change a rebuild."""
    shutil.copytree(PROJECT / "serving", dest / "serving", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "requirements").mkdir()
    shutil.copyfile(PROJECT / "requirements" / "serving.txt", dest / "requirements" / "serving.txt")
    shutil.copyfile(PROJECT / "Dockerfile", dest / "Dockerfile")
    return dest


@pytest.fixture(scope="module")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltImage]:
    """Build the housing example once for the module; remove the image by id afterwards."""
    work = tmp_path_factory.mktemp("build")
    image_name = f"127.0.0.1:5000/modelship-test/build-{uuid.uuid4().hex[:8]}"
    argv: tuple[str, ...] = ()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_SHA", "GITHUB_SERVER_URL", "SOURCE_DATE_EPOCH"):
            patch.delenv(name, raising=False)
        patch.setenv("GITHUB_OUTPUT", str(work / "github_output"))  # fetched() writes outputs too
        patch.setenv("GITHUB_STEP_SUMMARY", str(work / "step_summary"))
        model_dir = fetched(work / "model")
        project = snapshot_project(work / "project")
        argv = (
            "--model-dir", str(model_dir), "--image-name", image_name, "--base-image", BASE_IMAGE,
            "--git-ref", "refs/heads/main", "--git-sha", SHA, "--tags", "candidate",
            "--source-url", "https://github.com/acme/modelship", "--project-dir", str(project),
            "--wheelhouse", str(PROJECT / ".wheelhouse"),
        )  # fmt: skip
        result = run_build(work, patch, *argv)
    try:
        yield BuiltImage(argv, result.outputs, result.summary, model_dir, image_name)
    finally:
        remove_images(result.outputs["image-id"], *result.outputs["tags"].splitlines())


def remove_images(image_id: str, *refs: str) -> None:
    """Remove, by id, the image built and whatever image a later (re)build left on its refs."""
    client = docker.from_env()
    try:
        ids = {image_id}
        for ref in refs:
            with contextlib.suppress(docker.errors.ImageNotFound):
                ids.add(client.images.get(ref).id)
        for each in ids:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(each, force=True)
    finally:
        client.close()


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    """A Docker client for inspecting what was built."""
    docker_client = docker.from_env()
    try:
        yield docker_client
    finally:
        docker_client.close()


@pytest.mark.docker
def test_build_outputs_describe_the_image(built_image: BuiltImage, client: docker.DockerClient) -> None:
    outputs = built_image.outputs
    name = built_image.image_name
    expected_refs = [f"{name}:{tag}" for tag in ("1", "main", "sha-0123456", "candidate", "latest")]
    assert outputs["tags"].splitlines() == expected_refs
    assert outputs["image"] == expected_refs[0]
    image = client.images.get(outputs["image-id"])
    assert image.id == outputs["image-id"]
    assert sorted(image.tags) == sorted(expected_refs)
    assert int(outputs["size-bytes"]) == image.attrs["Size"] > 0
    labels = json.loads(outputs["labels"])
    record = json.loads((built_image.model_dir / "provenance.json").read_text(encoding="utf-8"))
    assert labels["org.opencontainers.image.revision"] == SHA
    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/modelship"
    assert labels["org.opencontainers.image.created"] == record["fetched_at"]
    assert labels["ai.modelship.model.sha256"] == record["sha256"]
    assert image.labels.items() >= labels.items()
    config_env = dict(item.split("=", 1) for item in image.attrs["Config"]["Env"])
    assert config_env["MODELSHIP_MODEL_NAME"] == "housing"
    assert config_env["MODELSHIP_MODEL_VERSION"] == "1"
    assert config_env["MODELSHIP_MODEL_SHA256"] == record["sha256"]
    summary = built_image.summary
    assert summary.startswith(f"### ✅ Built `{expected_refs[0]}`")
    assert outputs["image-id"] in summary
    assert "<details><summary>labels</summary>" in summary


@pytest.mark.docker
def test_run_returns_the_image_main_reports(
    built_image: BuiltImage, step_env: Path, client: docker.DockerClient
) -> None:
    argv = built_image.argv
    request = build.BuildRequest(
        model_dir=built_image.model_dir,
        image_name=built_image.image_name,
        tags="candidate",
        git_ref="refs/heads/main",
        git_sha=SHA,
        base_image=BASE_IMAGE,
        source_url="https://github.com/acme/modelship",
        project_dir=Path(option(argv, "--project-dir")),
        wheelhouse=PROJECT / ".wheelhouse",
    )
    built = build.run(request)
    outputs = built_image.outputs
    assert built.passed
    assert built.outputs() == outputs  # what main wrote to $GITHUB_OUTPUT for the same inputs
    assert [str(ref) for ref in built.refs] == outputs["tags"].splitlines()
    assert built.image == built.refs[0]
    assert built.image_ids == (built.image_id,) == (outputs["image-id"],)
    assert built.platform_images == []
    assert built.model_dir == built_image.model_dir
    assert built.labels == json.loads(outputs["labels"])
    assert built.base_image == BASE_IMAGE
    assert built.base_image_id == client.images.get(BASE_IMAGE).id
    assert not (step_env / "github_output").exists(), "run writes no outputs"
    assert not (step_env / "step_summary").exists(), "run writes no summary"


@pytest.mark.docker
def test_run_refuses_an_unsupported_platform_before_any_build(built_image: BuiltImage) -> None:
    request = build.BuildRequest(built_image.model_dir, "housing", platforms="linux/amd64,linux/s390x")
    with pytest.raises(gha.StepError, match="'linux/s390x' is not a supported platform; choose from"):
        build.run(request)


@pytest.mark.docker
def test_a_passed_gate_is_reported_when_the_build_after_it_fails(
    step_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fetched(step_env / "m", smooth_model(step_env / "smooth"))
    missing = "127.0.0.1:9/modelship/no-such-base:0"  # nothing listens there: the pull fails at once
    argv = ["--model-dir", str(model), "--image-name", f"modelship-test/gate-{uuid.uuid4().hex[:8]}"]
    argv += ["--base-image", missing, "--wheelhouse", str(PROJECT / ".wheelhouse")]
    argv += ["--quantize", "int8", "--max-abs-error", "0.05", "--max-rel-error", "0.05"]
    failed = run_step(build.main, argv, step_env, monkeypatch)
    assert failed.code == 1
    assert failed.outputs["quantize-verdict"] == "pass"
    assert failed.outputs["model-dir"] == str(step_env / "m-int8")
    assert "image-id" not in failed.outputs
    assert failed.summary.startswith("### ✅ int8 agrees with fp32")
    assert "❌ the image build failed: " in failed.summary
    assert f"the base image {missing} is not on this engine" in failed.err


@pytest.mark.docker
def test_run_hands_a_passed_gate_over_with_the_failed_build(step_env: Path) -> None:
    """What the pipeline reports: the StepError of the build carries the gate it passed."""
    model = fetched(step_env / "m", smooth_model(step_env / "smooth"))
    request = build.BuildRequest(
        model_dir=model,
        image_name=f"modelship-test/gate-{uuid.uuid4().hex[:8]}",
        base_image="127.0.0.1:9/modelship/no-such-base:0",  # nothing listens there: the pull fails at once
        wheelhouse=PROJECT / ".wheelhouse",
        quantize="int8",
        max_abs_error="0.05",
        max_rel_error="0.05",
    )
    with pytest.raises(gha.StepError) as failed:
        build.run(request)
    partial = failed.value.partial
    assert isinstance(partial, build.Built)
    assert (partial.passed, partial.images) == (True, ())
    assert partial.outputs()["quantize-verdict"] == "pass"
    assert partial.outputs()["model-dir"] == str(step_env / "m-int8")
    assert "the base image 127.0.0.1:9/modelship/no-such-base:0 is not on this engine" in str(failed.value)


@pytest.mark.docker
def test_image_holds_the_fetched_model_folder(built_image: BuiltImage, client: docker.DockerClient) -> None:
    container = client.containers.create(built_image.outputs["image-id"])
    try:
        stream, _ = container.get_archive("/opt/modelship/model")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            files = {
                Path(member.name).name: archive.extractfile(member).read()  # type: ignore[union-attr]
                for member in archive.getmembers()
                if member.isfile()
            }
    finally:
        container.remove(force=True)
    expected = {path.name: path.read_bytes() for path in built_image.model_dir.iterdir()}
    assert set(expected) == {"model.onnx", "modelship.json", "samples.json", "provenance.json"}
    del expected["provenance.json"]  # its facts are labels; its fetch time must not change the image
    assert files == expected


@pytest.mark.docker
def test_a_fresh_fetch_of_the_same_model_builds_the_same_image(
    built_image: BuiltImage, step_env: Path, client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a new CI runner: the same model fetched at another time, the same commit -> the same image."""
    head = build.local_git(PROJECT, "rev-parse", "HEAD")
    if not head:
        pytest.skip("needs the project's git checkout for a real commit")
    refetched = step_env / "refetched"
    shutil.copytree(built_image.model_dir, refetched)
    record = json.loads((refetched / "provenance.json").read_text(encoding="utf-8"))
    record["fetched_at"] = "2030-01-01T00:00:00Z"
    (refetched / "provenance.json").write_text(json.dumps(record), encoding="utf-8")
    argv = list(built_image.argv)
    argv[argv.index("--git-sha") + 1] = head
    first = run_build(step_env, monkeypatch, *argv)
    argv[argv.index("--model-dir") + 1] = str(refetched)
    second = run_build(step_env, monkeypatch, *argv)
    try:
        assert second.outputs["image-id"] == first.outputs["image-id"]
        created = json.loads(second.outputs["labels"])["org.opencontainers.image.created"]
        assert created != record["fetched_at"]
    finally:
        remove_images(first.outputs["image-id"], *first.outputs["tags"].splitlines())


@pytest.mark.docker
def test_rebuild_with_nothing_changed_reuses_the_cache(
    built_image: BuiltImage, step_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = run_build(step_env, monkeypatch, *built_image.argv)
    assert again.outputs["image-id"] == built_image.outputs["image-id"]
    assert again.outputs["tags"] == built_image.outputs["tags"]
    assert "Using cache" in again.out
    assert "Running in" not in again.out  # no step ran again


@pytest.mark.docker
def test_failing_dockerfile_reports_the_log_tail(
    built_image: BuiltImage, step_env: Path, capsys: pytest.CaptureFixture[str], client: docker.DockerClient
) -> None:
    dockerfile = step_env / "Dockerfile.broken"
    dockerfile.write_text(
        "ARG BASE_IMAGE=none\nFROM ${BASE_IMAGE}\nRUN echo about-to-fail && exit 3\n", encoding="utf-8"
    )
    image_name = f"modelship-test/broken-{uuid.uuid4().hex[:8]}"
    argv = ["--model-dir", str(built_image.model_dir), "--image-name", image_name, "--base-image", BASE_IMAGE]
    build_fails(*argv, "--dockerfile", str(dockerfile))
    message = capsys.readouterr().err
    assert "the image build failed: The command '/bin/sh -c echo about-to-fail && exit 3'" in message
    assert "returned a non-zero code: 3" in message
    assert "fix the failing Dockerfile step" in message
    assert "Last lines of the build log:\nStep 1/" in message
    assert "\nabout-to-fail\n" in message
    assert client.images.list(name=image_name) == []


@pytest.mark.docker
def test_base_image_that_cannot_be_pulled(
    built_image: BuiltImage, step_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "127.0.0.1:9/modelship/no-such-base:0"  # nothing listens there: the pull fails at once
    image_name = f"modelship-test/nobase-{uuid.uuid4().hex[:8]}"
    build_fails(
        "--model-dir", str(built_image.model_dir), "--image-name", image_name, "--base-image", missing
    )
    message = capsys.readouterr().err
    assert f"the base image {missing} is not on this engine and could not be pulled" in message
    assert "tools/build-base-image" in message
