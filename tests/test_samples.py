"""The samples file (scripts.samples): its format, and where the step looks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import samples as samples_file
from scripts.gha import StepError

HOUSING = Path(__file__).resolve().parents[1] / "examples" / "housing"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        pytest.param("{", "is not valid JSON", id="not-json"),
        pytest.param("[]", "non-empty list", id="empty"),
        pytest.param('{"request": 1}', "non-empty list", id="object"),
        pytest.param(
            '[{"request": [1]}]', 'entry 1 must be an object with "request" and "response"', id="no-response"
        ),
    ],
)
def test_read_samples_refuses(text: str, complaint: str) -> None:
    with pytest.raises(StepError, match=r"samples\.json") as caught:
        samples_file.read_samples(text, "samples.json")
    assert complaint in str(caught.value)


def test_read_samples_names_them() -> None:
    samples = samples_file.read_samples((HOUSING / "samples.json").read_text(), "samples.json")
    assert [s.name for s in samples][:2] == ["sample 1", "sample 2"]


def test_a_folder_without_samples_has_none(tmp_path: Path) -> None:
    assert samples_file.locate(tmp_path, "") is None
    assert samples_file.locate(HOUSING, "") == HOUSING / "samples.json"


@pytest.mark.parametrize(
    ("action", "named"),
    [pytest.param(False, "--samples", id="command-line"), pytest.param(True, "input 'samples'", id="action")],
)
def test_a_missing_samples_file_is_named_as_the_user_gave_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, action: bool, named: str
) -> None:
    missing = tmp_path / "no-such.json"
    monkeypatch.delenv("INPUT_SAMPLES", raising=False)
    if action:
        monkeypatch.setenv("INPUT_SAMPLES", str(missing))
    with pytest.raises(StepError) as caught:
        samples_file.locate(tmp_path, str(missing))
    assert (
        str(caught.value) == f"{named} ({missing}) does not exist; give a samples.json path or leave it empty"
    )
