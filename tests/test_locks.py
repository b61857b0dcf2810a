"""The dependency locks (requirements/*.txt) against their inputs (requirements/*.in), offline.

`make locks` compiles each input with pip-compile --generate-hashes. A lock is stale when an input
asks for a version the lock does not hold, names a package the lock lacks, or dropped one the lock
still lists as its own; every install (make setup, the setup action, the wheelhouse, the image)
runs with --require-hashes, so a lock must also pin every package exactly and with its hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[1]
REQUIREMENTS = PROJECT / "requirements"
LOCK_SETS = ["serving", "pip", "pipeline", "dev"]
LOCK_COMMAND = "make locks"
INSTALLS_WITH_HASHES = {
    "Makefile": "pip install",
    "actions/setup/action.yml": "pip install",
    "Dockerfile": '"$1/pip" install',
    "scripts/wheelhouse.py": '"download"',
}


@dataclass(frozen=True)
class Pin:
    """One package of a lock: its exact version, hash count and the inputs that asked for it."""

    version: str
    hashes: int
    via_inputs: frozenset[str]


def input_requirements(path: Path) -> dict[str, Requirement]:
    """The requirements an input file states itself (its `-r` and `-c` lines are followed elsewhere)."""
    requirements = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            requirements[canonicalize_name(requirement.name)] = requirement
    return requirements


def included_inputs(path: Path) -> list[Path]:
    """The input and every input it pulls in with `-r`, depth first."""
    found = [path]
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^-r\s+(\S+)", raw.strip())
        if match:
            found += included_inputs(path.parent / match[1])
    return found


PIN_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)\s*\\?$")


def read_lock(path: Path) -> tuple[str, dict[str, Pin]]:
    """A lock's header comment and its pins."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = "\n".join(line for line in lines[:8] if line.startswith("#"))
    pins: dict[str, Pin] = {}
    for index, line in enumerate(lines):
        match = PIN_LINE.match(line)
        if not match:
            continue
        hashes, via = 0, set()
        for following in lines[index + 1 :]:
            if PIN_LINE.match(following) or not following.startswith(" "):
                break
            hashes += following.strip().startswith("--hash=sha256:")
            via.update(re.findall(r"-r (\S+\.in)", following))
        pins[canonicalize_name(match["name"])] = Pin(match["version"], hashes, frozenset(via))
    return header, pins


def lock_problems(input_file: Path, lock_file: Path, root: Path = PROJECT) -> list[str]:
    """Why `lock_file` is not a current, fully hashed lock of `input_file` (nothing when it is).

    `root` is where pip-compile ran: the lock names its inputs relative to it.
    """
    if not lock_file.is_file():
        return [f"{lock_file.name} is missing; run `{LOCK_COMMAND}`"]
    header, pins = read_lock(lock_file)
    problems = []
    if LOCK_COMMAND not in header:
        problems.append(f"{lock_file.name}: the header does not name `{LOCK_COMMAND}`")
    for name, pin in pins.items():
        if pin.hashes == 0:
            problems.append(f"{lock_file.name}: {name}=={pin.version} has no --hash")
    for source in included_inputs(input_file):
        relative = source.relative_to(root).as_posix()
        wanted = input_requirements(source)
        for name, requirement in wanted.items():
            pin = pins.get(name)
            if pin is None:
                problems.append(
                    f"{lock_file.name}: {relative} asks for {requirement}, the lock has no {name}"
                )
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(
                    f"{lock_file.name}: {relative} asks for {requirement}, the lock holds {pin.version}"
                )
        dropped = sorted(
            name for name, pin in pins.items() if relative in pin.via_inputs and name not in wanted
        )
        if dropped:
            problems.append(f"{lock_file.name}: {relative} no longer asks for {', '.join(dropped)}")
    if problems:
        problems.append(f"run `{LOCK_COMMAND}` to compile the locks again")
    return problems


def makefile_list(name: str) -> list[str]:
    """A `NAME := a b c` list of the Makefile."""
    match = re.search(rf"^{name}\s*:?=\s*(.*)$", (PROJECT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert match, f"the Makefile defines no {name}"
    return match[1].split()


# --- the project's locks --------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOCK_SETS)
def test_lock_is_current_and_hashed(name: str) -> None:
    assert lock_problems(REQUIREMENTS / f"{name}.in", REQUIREMENTS / f"{name}.txt") == []


def test_bench_lock_is_current_and_hashed() -> None:
    """The bench's own venv (MLflow and the servers it is compared with) is locked the same way."""
    bench = PROJECT / "bench"
    assert lock_problems(bench / "requirements.in", bench / "requirements.txt", root=PROJECT) == []


# (outer, inner): the outer lock keeps every version the inner one pins. The bench serves with the
# image's own versions, like for like.
@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        ("requirements/pipeline.txt", "requirements/serving.txt"),
        ("requirements/dev.txt", "requirements/pipeline.txt"),
        ("requirements/dev.txt", "requirements/pip.txt"),
        ("bench/requirements.txt", "requirements/serving.txt"),
    ],
)
def test_layered_locks_agree_on_every_shared_version(outer: str, inner: str) -> None:
    _, outer_pins = read_lock(PROJECT / outer)
    _, inner_pins = read_lock(PROJECT / inner)
    differing = {
        name: (pin.version, outer_pins[name].version)
        for name, pin in inner_pins.items()
        if name in outer_pins and outer_pins[name].version != pin.version
    }
    assert differing == {}, f"{outer} holds other versions than {inner}"


def test_serving_lock_leaves_out_only_what_the_makefile_names() -> None:
    unused = {canonicalize_name(name) for name in makefile_list("SERVING_UNUSED")}
    _, pins = read_lock(REQUIREMENTS / "serving.txt")
    assert unused.isdisjoint(pins), "a package the server never imports is in the image's lock"
    text = (REQUIREMENTS / "serving.txt").read_text(encoding="utf-8")
    left_out = set(re.findall(r"^# ([a-z0-9._-]+)$", text.split("# WARNING", 1)[-1], flags=re.M))
    assert left_out == unused, "serving.txt was compiled with other exclusions than the Makefile's"


@pytest.mark.parametrize("path", sorted(INSTALLS_WITH_HASHES))
def test_every_install_requires_hashes(path: str) -> None:
    text = (PROJECT / path).read_text(encoding="utf-8")
    marker = INSTALLS_WITH_HASHES[path]
    commands = [block for block in re.split(r"(?<!\\)\n", text) if marker in block]
    assert commands, f"{path} no longer installs with {marker}"
    assert all("--require-hashes" in command for command in commands), commands


def test_readme_documents_the_lock_command() -> None:
    development = (PROJECT / "README.md").read_text(encoding="utf-8").split("## Development", 1)[1]
    assert LOCK_COMMAND in development, (
        "README.md's Development section should say how to regenerate the locks"
    )


# --- the checker itself ---------------------------------------------------------------------------

LOCK_HEADER = (
    "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
    "# by the following command:\n#\n#    make locks\n#\n"
)
HASH = "    --hash=sha256:" + "0" * 64 + " \\\n"


def lock_entry(name: str, version: str, via: str = "-r requirements/app.in", hashed: bool = True) -> str:
    """One package as pip-compile writes it."""
    return f"{name}=={version} \\\n" + (HASH if hashed else "") + f"    # via {via}\n"


@pytest.mark.parametrize(
    ("input_text", "lock_text", "expected"),
    [
        pytest.param(
            "starlette==1.10.0\n", LOCK_HEADER + lock_entry("starlette", "1.10.0"), None, id="current"
        ),
        pytest.param(
            "Starlette>=1.0\n", LOCK_HEADER + lock_entry("starlette", "1.10.0"), None, id="range-and-case"
        ),
        pytest.param(
            "starlette==1.11.0\n",
            LOCK_HEADER + lock_entry("starlette", "1.10.0"),
            "the lock holds 1.10.0",
            id="input-moved-on",
        ),
        pytest.param(
            "starlette==1.10.0\nuvicorn==0.54.0\n",
            LOCK_HEADER + lock_entry("starlette", "1.10.0"),
            "the lock has no uvicorn",
            id="input-added-a-package",
        ),
        pytest.param(
            "starlette==1.10.0\n",
            LOCK_HEADER + lock_entry("starlette", "1.10.0") + lock_entry("uvicorn", "0.54.0"),
            "no longer asks for uvicorn",
            id="input-dropped-a-package",
        ),
        pytest.param(
            "starlette==1.10.0\n",
            LOCK_HEADER + lock_entry("starlette", "1.10.0", hashed=False),
            "has no --hash",
            id="unhashed",
        ),
        pytest.param(
            "starlette==1.10.0\n",
            "# hand-written\n" + lock_entry("starlette", "1.10.0"),
            "does not name `make locks`",
            id="not-generated",
        ),
    ],
)
def test_stale_check_judges_each_case(
    tmp_path: Path, input_text: str, lock_text: str, expected: str | None
) -> None:
    (tmp_path / "requirements").mkdir()
    input_file = tmp_path / "requirements" / "app.in"
    lock_file = tmp_path / "requirements" / "app.txt"
    input_file.write_text(input_text, encoding="utf-8")
    lock_file.write_text(lock_text, encoding="utf-8")
    problems = lock_problems(input_file, lock_file, root=tmp_path)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in problem for problem in problems), problems


def test_stale_check_follows_included_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "requirements"
    folder.mkdir()
    (folder / "base.in").write_text("numpy==2.4.6\n", encoding="utf-8")
    (folder / "app.in").write_text("-r base.in\n-c base.txt\nstarlette==1.10.0\n", encoding="utf-8")
    lock = LOCK_HEADER + lock_entry("numpy", "2.4.5", via="-r requirements/base.in")
    lock += lock_entry("starlette", "1.10.0")
    (folder / "app.txt").write_text(lock, encoding="utf-8")
    problems = lock_problems(folder / "app.in", folder / "app.txt", root=tmp_path)
    assert any("requirements/base.in asks for numpy==2.4.6, the lock holds 2.4.5" in p for p in problems)
