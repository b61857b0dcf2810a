"""tools/rootfs-image: a root filesystem tarball loaded as an image whose config names the architecture
asked for (Docker 20.10's `docker import` would record the engine's)."""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

pytestmark = [pytest.mark.docker]

ROOTFS_IMAGE = Path(__file__).resolve().parents[1] / "tools" / "rootfs-image"


@pytest.mark.parametrize(("arch", "variant"), [("arm64", "v8"), ("amd64", "")])
def test_loaded_image_says_the_architecture_asked_for(arch: str, variant: str, tmp_path: Path) -> None:
    marker = tmp_path / "hello"
    marker.write_text("modelship\n", encoding="utf-8")
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as archive:
        archive.add(marker, arcname="etc/hello")
    tag = f"modelship-test/rootfs:{uuid.uuid4().hex[:12]}"
    done = subprocess.run(
        [str(ROOTFS_IMAGE), str(rootfs), tag, arch], capture_output=True, text=True, check=False
    )
    client = docker.from_env()
    try:
        assert done.returncode == 0, done.stderr
        attrs = client.images.get(tag).attrs
        assert (attrs["Architecture"], attrs.get("Variant", ""), attrs["Os"]) == (arch, variant, "linux")
        assert attrs["Config"]["Cmd"] == ["python3"]
        assert "LANG=C.UTF-8" in attrs["Config"]["Env"]
        assert len(attrs["RootFS"]["Layers"]) == 1
    finally:
        client.images.remove(tag, force=True)
        client.close()


def test_unknown_architecture_is_refused_with_the_usage(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(ROOTFS_IMAGE), str(tmp_path / "rootfs.tar"), "x:y", "riscv64"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "ARCH one of amd64, arm64" in done.stderr
