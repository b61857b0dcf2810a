"""The smoke test's container (scripts.smoke_container): its log, folded for the summary."""

from __future__ import annotations

import pytest

from scripts import smoke_container


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(4, ["l0", "l1", "l2", "l3"], id="short-kept-whole"),
        pytest.param(5, ["l0", "l1", "l2", "l3", "l4"], id="at-the-limit"),
        pytest.param(9, ["l0", "l1", "[... 4 lines left out ...]", "l6", "l7", "l8"], id="start-and-end"),
    ],
)
def test_fold_log(lines: int, expected: list[str]) -> None:
    text = "".join(f"l{i}\n" for i in range(lines))
    assert smoke_container.fold_log(text, head=2, tail=3).splitlines() == expected
