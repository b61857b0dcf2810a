"""Multi-arch images for real: the arm64 base, an arm64 build of the housing image under QEMU, its smoke
test, and one tag over both platforms as an OCI image index in the registry, pulled per platform.

The two builds happen once for the module; the arm64 one runs under QEMU (tools/setup-machine sets
up binfmt_misc and the arm64 base). Without emulation here these tests skip, saying why; in CI they
must run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from scripts import build, emulation, fetch, oci_index, pipeline, platforms, push, push_index, smoke_test
from scripts.registry import RegistryAPI
from tests.registry import Registry
from tests.steps import StepRun, run_step
from tests.test_build import remove_images

pytestmark = [pytest.mark.docker]

PROJECT = Path(__file__).resolve().parents[1]
HOUSING = PROJECT / "examples" / "housing"
BASE_TEMPLATE = "modelship/python-base:3.11-bookworm-{arch}"
ARM64_BASE = BASE_TEMPLATE.format(arch="arm64")
# The seed's exchange, the housing example's first sample (README, tests/test_examples.py).
SEED_SAMPLE = json.loads((HOUSING / "samples.json").read_text(encoding="utf-8"))[0]


def arm64_unavailable() -> str:
    """Why arm64 images cannot run here ("" when they can)."""
    client = docker.from_env()
    try:
        if client.version().get("Arch") != "amd64":
            return "these tests emulate arm64 on an amd64 engine"
        client.images.get(ARM64_BASE)
    except docker.errors.ImageNotFound:
        return f"no {ARM64_BASE}: tools/setup-machine builds it where QEMU user emulation works"
    finally:
        client.close()
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        return "no qemu-aarch64 in binfmt_misc: tools/setup-machine sets it up"
    return ""


@pytest.fixture(scope="module", autouse=True)
def need_arm64() -> None:
    reason = arm64_unavailable()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the multi-arch tests: {reason}")
    if reason:
        pytest.skip(reason)


@dataclass(frozen=True)
class Built:
    """The two-platform build of the housing model."""

    run: StepRun
    images: list[dict[str, str]]
    tags: list[str]
    model_dir: Path
    image_name: str

    def image(self, platform: str) -> dict[str, str]:
        return next(entry for entry in self.images if entry["platform"] == platform)


@pytest.fixture(scope="module")
def built(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Fetch the housing model and build it for linux/amd64 and linux/arm64 (once for the module)."""
    files = tmp_path_factory.mktemp("multiarch")
    model_dir = files / "model"
    image_name = f"{registry.host}/modelship/multiarch-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
        fetched = run_step(
            fetch.main,
            ["--source", "local", "--model", str(HOUSING), "--dest", str(model_dir)],
            files,
            monkeypatch,
        )
        assert fetched.code == 0, fetched.err
        argv = ["--model-dir", str(model_dir), "--image-name", image_name, "--base-image", BASE_TEMPLATE]
        argv += ["--platforms", "linux/amd64,linux/arm64", "--tags", "multi", "--no-cache-from"]
        run = run_step(build.main, argv, files, monkeypatch)
    images = json.loads(run.outputs.get("platform-images", "[]"))
    try:
        assert run.code == 0, run.out[-3000:] + run.err
        yield Built(run, images, run.outputs["tags"].splitlines(), model_dir, image_name)
    finally:
        for entry in images:
            remove_images(entry["image-id"], entry["ref"])


def test_arm64_base_says_arm64_and_runs_under_qemu() -> None:
    client = docker.from_env()
    try:
        attrs = client.images.get(ARM64_BASE).attrs
        machine = client.containers.run(
            ARM64_BASE, ["python3", "-c", "import platform; print(platform.machine())"], remove=True
        )
    finally:
        client.close()
    assert (attrs["Architecture"], attrs.get("Variant")) == ("arm64", "v8")
    assert machine.decode().strip() == "aarch64"


def test_each_platform_built_from_its_own_base(built: Built) -> None:
    client = docker.from_env()
    try:
        for platform, arch in (("linux/amd64", "amd64"), ("linux/arm64", "arm64")):
            entry = built.image(platform)
            assert entry["base-image"] == BASE_TEMPLATE.format(arch=arch)
            assert entry["ref"].rsplit(":", 1)[1].endswith(f"-{arch}")
            assert client.images.get(entry["image-id"]).attrs["Architecture"] == arch
    finally:
        client.close()
    assert built.run.outputs["platforms"] == "linux/amd64,linux/arm64"
    assert any(tag.endswith(":multi") for tag in built.tags)
    assert "| linux/arm64 |" in built.run.summary
    assert "| linux/amd64 |" in built.run.summary


def test_run_returns_both_platforms_as_main_reports_them(built: Built, tmp_path: Path) -> None:
    labels = json.loads(built.run.outputs["labels"])
    request = build.BuildRequest(
        model_dir=built.model_dir,
        image_name=built.image_name,
        tags="multi",
        git_sha=labels["org.opencontainers.image.revision"],  # the fixture's, even if HEAD moved since
        base_image=BASE_TEMPLATE,
        no_cache_from=True,
        platforms="linux/amd64,linux/arm64",
    )
    again = build.run(request)  # the engine's cache serves both images again
    outputs = again.outputs()
    assert again.passed
    assert outputs == built.run.outputs
    assert [str(ref) for ref in again.refs] == built.tags
    assert str(again.image) == outputs["image"] == built.image("linux/amd64")["ref"]
    assert again.image_ids == tuple(entry["image-id"] for entry in built.images)
    assert again.image_id == again.image_ids[0]
    assert again.platform_images == push_index.parse_platform_images(outputs["platform-images"])
    assert [str(image.platform) for image in again.platform_images] == ["linux/amd64", "linux/arm64"]
    assert again.base_image == BASE_TEMPLATE.format(arch="amd64") == outputs["base-image"]
    assert again.model_dir == built.model_dir


def test_arm64_image_is_at_most_a_tenth_bigger(built: Built) -> None:
    ratio = float(built.run.outputs["arm64-size-ratio"])
    sizes = {entry["platform"]: int(entry["size-bytes"]) for entry in built.images}
    assert ratio == pytest.approx(sizes["linux/arm64"] / sizes["linux/amd64"], abs=1e-3)
    assert ratio <= 1.1


def test_arm64_smoke_test_under_qemu(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arm64 = built.image("linux/arm64")
    run = run_step(
        smoke_test.main,
        ["--image", arm64["image-id"], "--model-dir", str(built.model_dir)],
        tmp_path,
        monkeypatch,
    )
    assert run.code == 0, run.out[-3000:]
    assert run.outputs["platform"] == "linux/arm64"
    assert run.outputs["emulated"] == "true"
    assert "linux/arm64 emulated with QEMU" in run.summary


def test_arm64_image_answers_the_seed_exchange(built: Built, tmp_path: Path) -> None:
    client = docker.from_env()
    volumes = emulation.cpuinfo_volume(platforms.SUPPORTED["linux/arm64"], tmp_path)
    container = client.containers.run(
        built.image("linux/arm64")["image-id"],
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", None)},
        volumes=volumes,
    )
    try:
        container.reload()
        port = container.ports["8080/tcp"][0]["HostPort"]
        with requests.Session() as session:
            for _ in range(600):
                try:
                    if session.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            answer = session.post(f"http://127.0.0.1:{port}/predict", json=SEED_SAMPLE["request"], timeout=10)
        machine = container.exec_run(["python3", "-c", "import platform; print(platform.machine())"])
    finally:
        container.remove(force=True)
        client.close()
    assert answer.status_code == 200
    assert answer.json() == {"prediction": pytest.approx(SEED_SAMPLE["response"]["prediction"], rel=1e-6)}
    assert answer.json()["prediction"][0] == pytest.approx(20.355, abs=1e-3)
    assert machine.output.decode().strip() == "aarch64"


def test_one_tag_resolves_to_both_platforms(
    built: Built, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    tag = next(tag for tag in built.tags if tag.endswith(":multi"))
    argv = ["--image", built.image("linux/amd64")["ref"], "--tags", tag, "--username", registry.username]
    run = run_step(push.main, [*argv, "--platform-images", json.dumps(built.images)], tmp_path, monkeypatch)
    assert run.code == 0, run.out[-3000:] + run.err
    digests = json.loads(run.outputs["platform-digests"])
    repository = tag.split("/", 1)[1].rsplit(":", 1)[0]
    api = RegistryAPI(registry.host, registry.username, registry.password, insecure=True)
    try:
        media_type, body = api.get_manifest(repository, "multi", (oci_index.INDEX_TYPE,))
    finally:
        api.close()
    index = json.loads(body)
    assert media_type == oci_index.INDEX_TYPE
    assert run.outputs["digest"] == api_digest(body)
    listed = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]
    }
    assert listed == digests
    assert set(listed) == {"linux/amd64", "linux/arm64"}

    client = docker.from_env()
    try:
        arm64_id = built.image("linux/arm64")["image-id"]
        client.images.remove(built.image("linux/arm64")["ref"])  # the pull must bring it back by the index
        credentials = {"username": registry.username, "password": registry.password}
        pulled = client.images.pull(tag, platform="linux/arm64", auth_config=credentials)
        assert pulled.attrs["Architecture"] == "arm64"
        assert pulled.id == arm64_id
    finally:
        client.close()


def api_digest(body: bytes) -> str:
    """The digest of a manifest's bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_base_of_the_wrong_architecture_is_refused(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--model-dir", str(built.model_dir), "--image-name", "127.0.0.1:1/modelship/wrong-base"]
    argv += [
        "--base-image",
        BASE_TEMPLATE.format(arch="amd64"),
        "--platforms",
        "linux/arm64",
        "--no-cache-from",
    ]
    run = run_step(build.main, argv, tmp_path, monkeypatch)
    assert run.code != 0
    assert "is for linux/amd64, not linux/arm64, and its linux/arm64 variant could not be pulled" in run.err
    assert "tools/build-base-image arm64" in run.err


def test_unsupported_platform_is_refused_before_any_build(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--model-dir", str(built.model_dir), "--image-name", "127.0.0.1:1/modelship/bad-platform"]
    run = run_step(build.main, [*argv, "--platforms", "linux/amd64,linux/s390x"], tmp_path, monkeypatch)
    assert run.code != 0
    assert "'linux/s390x' is not a supported platform; choose from linux/amd64, linux/arm64" in run.err
    assert "Traceback" not in run.err


def test_pipeline_delivers_one_tag_for_both_platforms(
    built: Built, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    image_name = f"{registry.host}/modelship/multiarch-pipeline-{uuid.uuid4().hex[:8]}"
    argv = ["--source", "local", "--model", str(HOUSING), "--dest", str(tmp_path / "model")]
    argv += ["--image-name", image_name, "--username", registry.username, "--base-image", BASE_TEMPLATE]
    argv += ["--platforms", "linux/amd64,linux/arm64", "--skip-scan", "--tags", "multi"]
    run = run_step(pipeline.main, argv, tmp_path, monkeypatch)
    result = json.loads((tmp_path / "pipeline-result.json").read_text(encoding="utf-8"))
    build_outputs = next(step["outputs"] for step in result["steps"] if step["name"] == "build")
    images = json.loads(build_outputs.get("platform-images") or "[]")
    try:
        assert run.code == 0, run.out[-3000:] + run.err
        assert result["outputs"]["resolved-platforms"] == "linux/amd64,linux/arm64"
        assert float(result["outputs"]["arm64-size-ratio"]) <= 1.1
        steps = {step["name"]: step["verdict"] for step in result["steps"]}
        assert steps["smoke-test"] == steps["smoke-test-arm64"] == "passed"
        report = run.summary + run.out
        assert "| linux/arm64 | " in report
        assert "✅ passed (emulated) | `sha256:" in report
    finally:
        for entry in images:
            remove_images(entry["image-id"], entry["ref"])
