"""The whole local pipeline on the real engine and registry: it delivers, and each gate stops it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests

from scripts import gha, pipeline, scanners
from tests import scanner
from tests.registry import Registry

pytestmark = [pytest.mark.docker, pytest.mark.registry]

PROJECT = Path(__file__).resolve().parents[1]
HOUSING = PROJECT / "examples" / "housing"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"
RunPipeline = Callable[[list[str] | None], int]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry) -> Iterator[RunPipeline]:
    """Run the pipeline in-process, grype on the offline test database; remove what it built."""
    for name, value in scanner.build_test_database(tmp_path / "grype-db").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REGISTRY_PASSWORD", registry.password)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    image_name = f"{registry.host}/modelship-test/pipeline"

    def run_pipeline(argv: list[str] | None) -> int:
        base = ["--source", "local", "--model", str(HOUSING), "--dest", str(tmp_path / "model")]
        base += ["--image-name", image_name, "--base-image", BASE_IMAGE, "--username", registry.username]
        return pipeline.main(base + list(argv or []))

    yield run_pipeline
    client = docker.from_env()
    for image in client.images.list(name=image_name):
        client.images.remove(image.id, force=True)
    client.close()


def report(tmp_path: Path) -> str:
    """The pipeline's closing report, from the job summary."""
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    return text[text.rindex("## modelship:") :]


def test_delivers_and_a_rerun_reuses_the_cache_and_the_digest(
    run: RunPipeline, tmp_path: Path, registry: Registry
) -> None:
    assert run([]) == 0
    first = gha.read_outputs(tmp_path / "outputs")
    (tmp_path / "outputs").unlink()
    assert run([]) == 0
    second = gha.read_outputs(tmp_path / "outputs")
    assert first["digest"].startswith("sha256:")
    assert second["digest"] == first["digest"]
    assert f"✅ delivered `{second['image-ref']}`" in report(tmp_path)
    # the serving image passes the real scan, which names grype and the database it used
    [scan_row] = [line for line in report(tmp_path).splitlines() if line.startswith("| scan |")]
    assert scan_row.startswith("| scan | ✅ passed |")
    assert f"; grype {scanners.pinned_version('grype')}; vulnerability database v6." in scan_row
    assert "the offline test database (3 advisories)" in report(tmp_path)
    # the JSON result says the same as the report, with each step's outputs
    result = json.loads(Path(second["result-json"]).read_text(encoding="utf-8"))
    assert Path(second["result-json"]) == tmp_path / pipeline.RESULT_FILENAME
    assert (result["verdict"], result["stopped_at"]) == ("passed", None)
    assert result["scanner"].startswith(
        f"grype {scanners.pinned_version('grype')}; vulnerability database v6."
    )
    assert "the offline test database (3 advisories)" in result["scanner"]
    steps = {step["name"]: step for step in result["steps"]}
    assert list(steps) == ["fetch", "lint", "build", "scan", "smoke-test", "push"]
    assert all(step["verdict"] == "passed" and step["seconds"] > 0 for step in steps.values())
    assert result["seconds"] == pytest.approx(sum(step["seconds"] for step in steps.values()), abs=0.01)
    assert steps["push"]["outputs"]["digest"] == second["digest"]
    assert steps["scan"]["outputs"]["sbom-spdx"] == second["sbom-spdx"]
    assert result["outputs"] == {name: second[name] for name in result["outputs"]}
    assert set(result["outputs"]) == {"sbom-spdx", "sbom-cyclonedx", "digest", "image-ref", "provenance"}
    assert Path(second["sbom-spdx"]).is_file()
    assert Path(second["sbom-cyclonedx"]).is_file()
    repository = first["image-ref"].split("@")[0].split("/", 1)[1]
    served = requests.head(
        f"http://{registry.host}/v2/{repository}/manifests/{first['digest']}",
        auth=(registry.username, registry.password),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=5,
    )
    assert served.status_code == 200
    assert served.headers["Docker-Content-Digest"] == first["digest"]
    listed = requests.get(
        f"http://{registry.host}/v2/{repository}/tags/list",
        auth=(registry.username, registry.password),
        timeout=5,
    ).json()["tags"]
    assert "1" in listed  # every tag the build made is pushed: the model version and the commit
    assert any(tag.startswith("sha-") for tag in listed)
    # the provenance statement names the pushed digest and what the image was made from
    statement = json.loads(Path(second["provenance"]).read_text(encoding="utf-8"))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [
        {
            "name": first["image-ref"].split("@")[0],
            "digest": {"sha256": second["digest"].removeprefix("sha256:")},
        }
    ]
    definition = statement["predicate"]["buildDefinition"]
    model_sha256 = hashlib.sha256((HOUSING / "model.onnx").read_bytes()).hexdigest()
    assert definition["externalParameters"]["model"]["sha256"] == model_sha256
    assert definition["externalParameters"]["model"]["source"] == "local"
    materials = {entry["name"]: entry for entry in definition["resolvedDependencies"]}
    assert materials["model.onnx"]["digest"] == {"sha256": model_sha256}
    client = docker.from_env()
    base_id = client.images.get(BASE_IMAGE).id
    client.close()
    assert materials["base-image"]["digest"] == {"sha256": base_id.removeprefix("sha256:")}
    head = subprocess.run(["git", "-C", str(PROJECT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert materials["source"]["digest"] == {"gitCommit": head.stdout.strip()}
    dockerfile_sha256 = hashlib.sha256((PROJECT / "Dockerfile").read_bytes()).hexdigest()
    assert materials["Dockerfile"]["digest"] == {"sha256": dockerfile_sha256}


def write_corrupt_model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"this is not a protobuf")
    return folder


def write_bad_dockerfile(folder: Path) -> Path:
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text((PROJECT / "Dockerfile").read_text().replace("USER 10001:10001", "USER root"))
    return dockerfile


def write_wrong_samples(folder: Path) -> Path:
    samples = json.loads((HOUSING / "samples.json").read_text(encoding="utf-8"))
    samples[0]["response"]["prediction"][0] += 1.0
    path = folder / "samples.json"
    path.write_text(json.dumps(samples), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "stopped_at"),
    [
        pytest.param("corrupt-model", "fetch", id="corrupt-onnx-stops-at-fetch"),
        pytest.param("lint-errors", "lint", id="dockerfile-lint-errors-stop-at-lint"),
        pytest.param("vulnerable", "scan", id="vulnerable-image-stops-at-scan"),
        pytest.param("wrong-answer", "smoke-test", id="wrong-answer-stops-at-smoke-test"),
        pytest.param("bad-login", "push", id="refused-login-stops-at-push"),
    ],
)
def test_each_gate_stops_the_pipeline_at_its_step(
    case: str, stopped_at: str, run: RunPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra: list[str] = []
    if case == "corrupt-model":
        extra = ["--model", str(write_corrupt_model(tmp_path / "broken"))]
    elif case == "lint-errors":
        extra = ["--dockerfile", str(write_bad_dockerfile(tmp_path))]
    elif case == "vulnerable":  # a database of the test's own that names the image's onnxruntime
        database = scanner.build_test_database(tmp_path / "vulnerable-db", scanner.AGAINST_ONNXRUNTIME)
        for name, value in database.items():
            monkeypatch.setenv(name, value)
    elif case == "wrong-answer":
        extra = ["--samples", str(write_wrong_samples(tmp_path))]
    elif case == "bad-login":
        monkeypatch.setenv("REGISTRY_PASSWORD", "not-the-password")
    assert run(extra) == 1
    text = report(tmp_path)
    assert f"❌ not delivered: stopped at **{stopped_at}**" in text
    assert f"| {stopped_at} | ❌ " in text
    planned = ["fetch", "lint", "build", "scan", "smoke-test", "push"]
    for later in planned[planned.index(stopped_at) + 1 :]:
        assert f"| {later} | ⏭️ not run |" in text
    result = json.loads((tmp_path / pipeline.RESULT_FILENAME).read_text(encoding="utf-8"))
    assert (result["verdict"], result["stopped_at"]) == ("failed", stopped_at)
    verdicts = {step["name"]: step["verdict"] for step in result["steps"]}
    assert verdicts[stopped_at] == "failed"
    assert [verdicts[name] for name in planned[planned.index(stopped_at) + 1 :]] == ["not-run"] * (
        len(planned) - planned.index(stopped_at) - 1
    )
    assert "digest" not in result["outputs"]
    assert not (tmp_path / "outputs").exists() or "digest" not in gha.read_outputs(tmp_path / "outputs")


def image_layers(client: docker.DockerClient, ref: str) -> list[str]:
    """An image's filesystem layers (diff ids), bottom first."""
    return list(client.images.get(ref).attrs["RootFS"]["Layers"])


def new_model_version(tmp_path: Path) -> Path:
    """The housing model as version 2 with other weights' bytes (a doc string): a new model layer."""
    import onnx

    folder = tmp_path / "housing-2"
    shutil.copytree(HOUSING, folder)
    model = onnx.load(str(folder / "model.onnx"))
    model.doc_string = "version 2"
    onnx.save(model, str(folder / "model.onnx"))
    config = json.loads((folder / "modelship.json").read_text(encoding="utf-8"))
    config["version"] = "2"
    (folder / "modelship.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_a_cold_engine_rebuilds_only_the_model_layer_from_the_registrys_image(
    run: RunPipeline, tmp_path: Path
) -> None:
    client = docker.from_env()
    try:
        assert run(["--skip-scan", "--tags", "cold-engine"]) == 0
        first = gha.read_outputs(tmp_path / "outputs")
        pushed = image_layers(client, first["image-ref"].split("@")[0] + ":1")
        for image in client.images.list(name=first["image-ref"].split("@")[0]):
            client.images.remove(image.id, force=True)
        (tmp_path / "outputs").unlink()
        model = new_model_version(tmp_path)
        assert run(["--skip-scan", "--model", str(model), "--dest", str(tmp_path / "model-2")]) == 0
        second = gha.read_outputs(tmp_path / "outputs")
        rebuilt = image_layers(client, second["image-ref"].split("@")[0] + ":2")
    finally:
        client.close()
    assert second["digest"] != first["digest"]
    assert len(rebuilt) == len(pushed)
    assert rebuilt[:-1] == pushed[:-1], "every layer below the model's comes from the pushed image"
    assert rebuilt[-1] != pushed[-1], "the model layer is new"
    assert "layers reused from" in (tmp_path / "summary.md").read_text(encoding="utf-8")
