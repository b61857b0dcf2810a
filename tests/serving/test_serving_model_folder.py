"""The model-folder contract (serving.model_folder): its file names and the file sha256."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from serving.model_folder import CONFIG_FILE, MODEL_FILE, SAMPLES_FILE, file_sha256

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", id="empty"),
        pytest.param(b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", id="abc"),
    ],
)
def test_file_sha256_matches_the_published_vectors(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / MODEL_FILE
    path.write_bytes(data)
    assert file_sha256(path) == expected


def test_file_sha256_of_a_file_bigger_than_one_read(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: several of hashlib.file_digest's 256 KiB reads
    path = tmp_path / MODEL_FILE
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("example", "names"),
    [
        pytest.param("housing", (MODEL_FILE, CONFIG_FILE, SAMPLES_FILE), id="housing"),
        pytest.param("minilm-sentiment", (CONFIG_FILE, SAMPLES_FILE), id="minilm-sentiment"),
    ],
)
def test_the_bundled_examples_follow_the_contract(example: str, names: tuple[str, ...]) -> None:
    folder = PROJECT / "examples" / example
    assert sorted(name for name in names if (folder / name).is_file()) == sorted(names)


def test_serving_imports_nothing_from_the_pipeline_scripts() -> None:
    """serving/ is the lowest layer (the only code in the image): scripts import it, never the reverse."""
    offenders = []
    for path in sorted((PROJECT / "serving").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            offenders += [
                f"{path.name}: {m}" for m in modules if m.split(".")[0] in {"scripts", "tools", "bench"}
            ]
    assert offenders == []
