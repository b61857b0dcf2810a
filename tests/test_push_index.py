"""The push of a multi-platform build (scripts.push_index), against the real test registry: the index
over the build's platform images, and over images other jobs pushed under `<tag>-<arch>` (the reusable
workflow's native legs: `python -m scripts.push --merge-platforms`)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from scripts import oci_index, platforms, push, push_index
from scripts.image_ref import ImageRef, parse_ref
from scripts.registry import RegistryAPI
from tests.registry import Registry
from tests.steps import StepRun, run_step

ROOTFS_IMAGE = Path(__file__).resolve().parents[1] / "tools" / "rootfs-image"


@pytest.fixture(scope="module")
def leg_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A tiny image per architecture (tools/rootfs-image writes the architecture into its config)."""
    folder = tmp_path_factory.mktemp("legs")
    (folder / "hello").write_text(uuid.uuid4().hex, encoding="utf-8")
    rootfs = folder / "rootfs.tar"
    with tarfile.open(rootfs, "w") as archive:
        archive.add(folder / "hello", arcname="etc/hello")
    images = {arch: f"modelship-test/leg-{arch}:{uuid.uuid4().hex[:12]}" for arch in ("amd64", "arm64")}
    client = docker.from_env()
    try:
        for arch, tag in images.items():
            subprocess.run([str(ROOTFS_IMAGE), str(rootfs), tag, arch], check=True, capture_output=True)
        yield images
    finally:
        for tag in images.values():
            client.images.remove(tag, force=True)
        client.close()


def run_as(
    main: Callable[[list[str]], int],
    args: list[str],
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> StepRun:
    """Run a step's `main` in-process with the registry's password in REGISTRY_PASSWORD."""
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    return run_step(main, [*args, "--username", registry.username], tmp_path, monkeypatch)


def push_legs(
    leg_images: dict[str, str], registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dict[str, str]]:
    """Push each leg's image under `<new repository>:1-<arch>` as that leg's push step does: the
    repository's name (with the registry), each platform's digest."""
    name = f"{registry.host}/modelship-test/merge-{uuid.uuid4().hex[:10]}"
    pushed = {}
    for arch, image in leg_images.items():
        leg = run_as(
            push.main, ["--image", image, "--tags", f"{name}:1-{arch}"], registry, tmp_path, monkeypatch
        )
        assert leg.code == 0, leg.err
        pushed[f"linux/{arch}"] = leg.outputs["digest"]
    return name, pushed


@pytest.mark.docker
@pytest.mark.registry
def test_the_index_joins_the_legs_pushed_images_under_every_tag(
    leg_images: dict[str, str], registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, pushed = push_legs(leg_images, registry, tmp_path, monkeypatch)
    repository = name.removeprefix(f"{registry.host}/")
    tags = f"{name}:1,{name}:latest"
    merged = run_as(
        push.main,
        ["--tags", tags, "--merge-platforms", "linux/arm64,linux/amd64"],
        registry,
        tmp_path,
        monkeypatch,
    )
    assert merged.code == 0, merged.err
    assert merged.outputs["resolved-platforms"] == "linux/arm64,linux/amd64"
    assert json.loads(merged.outputs["platform-digests"]) == pushed
    digest = merged.outputs["digest"]
    assert merged.outputs["image-ref"] == f"{name}@{digest}"
    assert f"✅ **pushed** `{name}@{digest}`, an OCI image index of 2 platforms" in merged.summary
    api = RegistryAPI(registry.host, registry.username, registry.password, insecure=True)
    with contextlib.closing(api):
        for tag in ("1", "latest"):
            assert api.manifest_digest(repository, tag) == digest
            media_type, body = api.get_manifest(repository, tag, (oci_index.INDEX_TYPE,))
            assert media_type == oci_index.INDEX_TYPE
            listed = {
                entry["platform"]["architecture"]: entry["digest"] for entry in json.loads(body)["manifests"]
            }
            assert listed == {"arm64": pushed["linux/arm64"], "amd64": pushed["linux/amd64"]}


@pytest.mark.docker
@pytest.mark.registry
def test_a_leg_that_did_not_push_is_named(
    leg_images: dict[str, str], registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{registry.host}/modelship-test/merge-{uuid.uuid4().hex[:10]}"
    leg = run_as(
        push.main,
        ["--image", leg_images["amd64"], "--tags", f"{name}:1-amd64"],
        registry,
        tmp_path,
        monkeypatch,
    )
    assert leg.code == 0, leg.err
    merged = run_as(
        push.main,
        ["--tags", f"{name}:1", "--merge-platforms", "linux/amd64,linux/arm64"],
        registry,
        tmp_path,
        monkeypatch,
    )
    assert merged.code == 1
    assert f"has no {name}:1-arm64: the leg that builds it did not push" in merged.err
    assert "Traceback" not in merged.err


@pytest.mark.docker
@pytest.mark.registry
def test_run_merges_the_legs_as_main_does(
    leg_images: dict[str, str], registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = push_legs(leg_images, registry, tmp_path, monkeypatch)
    merge = ["--tags", f"{name}:1", "--merge-platforms", "linux/amd64,linux/arm64"]
    by_main = run_as(push.main, merge, registry, tmp_path, monkeypatch)
    assert by_main.code == 0, by_main.err
    request = push.request(
        "", push.parse_push_refs([f"{name}:1"]), registry.username, merge_platforms="linux/amd64,linux/arm64"
    )
    pushed = push.run(request)
    assert pushed.passed
    assert pushed.image_ref == parse_ref(f"{name}@{by_main.outputs['digest']}")
    assert [(str(each.platform), str(each.ref)) for each in pushed.pushes] == [
        ("linux/amd64", f"{name}:1-amd64"),
        ("linux/arm64", f"{name}:1-arm64"),
    ]
    assert pushed.outputs() == by_main.outputs
    assert list(pushed.outputs()) == ["digest", "image-ref", "platform-digests", "resolved-platforms"]


@pytest.mark.docker
@pytest.mark.registry
def test_run_pushes_an_index_over_the_build_s_platform_images(
    leg_images: dict[str, str], registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = f"modelship-test/index-{uuid.uuid4().hex[:10]}"
    name = f"{registry.host}/{repository}"
    client = docker.from_env()
    images = []
    try:
        for arch, image in leg_images.items():  # as the build names each platform's image
            client.images.get(image).tag(name, f"1-{arch}")
            images.append(
                push_index.PlatformImage(platforms.parse_one(f"linux/{arch}"), parse_ref(f"{name}:1-{arch}"))
            )
        monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
        refs = push.parse_push_refs([f"{name}:1", f"{name}:latest"])
        pushed = push.run(push.request(leg_images["amd64"], refs, registry.username, platform_images=images))
    finally:
        for arch in leg_images:
            client.images.remove(f"{name}:1-{arch}")
        client.close()
    api = RegistryAPI(registry.host, registry.username, registry.password, insecure=True)
    with contextlib.closing(api):
        served = {arch: api.manifest_digest(repository, f"1-{arch}") for arch in leg_images}
        assert [api.manifest_digest(repository, tag) for tag in ("1", "latest")] == [pushed.digest] * 2
    assert pushed.image_ref == ImageRef(registry.host, repository, digest=pushed.digest)
    assert pushed.outputs() == {
        "digest": pushed.digest,
        "image-ref": f"{name}@{pushed.digest}",
        "platform-digests": json.dumps({f"linux/{arch}": digest for arch, digest in served.items()}),
        "resolved-platforms": "linux/amd64,linux/arm64",
    }


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        pytest.param(
            ["--tags", "127.0.0.1:5000/m:1", "--merge-platforms", "linux/amd64"],
            "names one platform; an index joins two or more",
            id="one-platform",
        ),
        pytest.param(
            ["--tags", "127.0.0.1:5000/m:1", "--merge-platforms", "linux/s390x,linux/amd64"],
            "'linux/s390x' is not a supported platform",
            id="unsupported-platform",
        ),
        pytest.param(
            ["--tags", "127.0.0.1:5000/m@sha256:" + "0" * 64, "--merge-platforms", "linux/amd64,linux/arm64"],
            "must end with ':<tag>'",
            id="digest-not-tag",
        ),
    ],
)
def test_bad_inputs_are_refused_before_any_request(
    args: list[str], complaint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REGISTRY_PASSWORD", raising=False)
    done = run_step(push.main, args, tmp_path, monkeypatch)
    assert done.code != 0
    assert complaint in done.err
    assert "Traceback" not in done.err
