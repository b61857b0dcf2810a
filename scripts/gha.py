"""The one way in and out for every step: inputs, outputs, summary, annotations, masks, errors.

A step works the same from a terminal and from a GitHub Actions step: options come from the
command line, or from `INPUT_<NAME>` environment variables that the composite action sets;
outputs go to `$GITHUB_OUTPUT` and the summary to `$GITHUB_STEP_SUMMARY` when those are set,
and to the terminal otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar, cast


class StepError(Exception):
    """A failure the user can fix; its message says what went wrong and what to do.

    `partial` is what the step finished before it failed (a passed int8 gate before a failed build),
    reported with the error.
    """

    def __init__(self, message: str, exit_code: int = 1, partial: StepResult | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.partial = partial


def in_actions() -> bool:
    """True when running inside a GitHub Actions job."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def env_name(option: str) -> str:
    """`--severity-cutoff` -> `INPUT_SEVERITY_CUTOFF`, the variable the composite action sets."""
    return "INPUT_" + option.lstrip("-").replace("-", "_").upper()


def input_name(option: str) -> str:
    """How a message names an input, as the user gave it: `input 'timeout'` where an action passes its
    inputs (it sets `INPUT_TIMEOUT`, even to ""), `--timeout` on a command line."""
    name = option.lstrip("-")
    return f"input '{name}'" if env_name(name) in os.environ else f"--{name}"


class StepParser(argparse.ArgumentParser):
    """An argument parser whose option defaults come from `INPUT_*` variables when set."""

    def add_input(self, option: str, *, default: Any = None, **kwargs: Any) -> argparse.Action:
        """Add `--option`, taking its default from `INPUT_<OPTION>` when that is set and not empty."""
        from_env = os.environ.get(env_name(option), "")
        if from_env != "":
            default = from_env
            kwargs.pop("required", None)
        return self.add_argument(option, default=default, **kwargs)

    def add_choice(self, option: str, *, choices: Sequence[str], default: str, help: str) -> argparse.Action:
        """Add `--option`, one of `choices` in any case (`check_choice` checks a value from INPUT_*)."""
        return self.add_input(option, default=default, type=str.lower, choices=choices, help=help)

    def add_flag(self, option: str, *, help: str) -> argparse.Action:
        """Add a boolean `--option`; `INPUT_<OPTION>=true` turns it on as well."""
        try:
            default = parse_bool(
                os.environ.get(env_name(option), "false"), f"{option.lstrip('-')} ({env_name(option)})"
            )
        except StepError as error:
            self.error(str(error))
        return self.add_argument(option, action="store_true", default=default, help=help)

    def error(self, message: str) -> NoReturn:
        """Report a bad invocation as a clean error (exit 2), never a traceback."""
        self.print_usage(sys.stderr)
        annotate("error", f"{self.prog}: {message}")
        raise SystemExit(2)


def parse_bool(value: str, name: str) -> bool:
    """Read an Actions-style boolean input ("true"/"false")."""
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off", ""}:
        return False
    raise StepError(f"input '{name}' must be true or false, not {value!r}")


def check_choice(value: str, choices: Sequence[str], name: str, exit_code: int = 1) -> str:
    """`value` lower-cased when it is one of `choices`, else an error naming input `name`.

    argparse checks `choices` on the command line only, not a default taken from `INPUT_*`.
    """
    chosen = value.strip().lower()
    if chosen not in choices:
        raise StepError(f"{input_name(name)} must be one of {', '.join(choices)}, not {value!r}", exit_code)
    return chosen


def positive_number(value: str, name: str) -> float:
    """`value` as a number above zero, else an error naming input `name`; nan and inf are refused too."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise StepError(f"{input_name(name)} must be a positive number, not {value!r}")
    return number


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, capped, for one-line errors."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def split_list(value: str | Sequence[str] | None) -> list[str]:
    """Split a comma- or newline-separated input into its non-empty items."""
    if value is None:
        return []
    text = value if isinstance(value, str) else ",".join(value)
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def set_output(name: str, value: object) -> None:
    """Write one step output (multi-line safe) to `$GITHUB_OUTPUT`, or print it in a terminal."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        print(f"{name}={text}")
        return
    with open(path, "a", encoding="utf-8") as handle:
        if "\n" in text:
            delimiter = f"ghadelim_{uuid.uuid4().hex}"
            handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        else:
            handle.write(f"{name}={text}\n")


def add_summary(markdown: str) -> None:
    """Append Markdown to the job summary (`$GITHUB_STEP_SUMMARY`); print it in a terminal."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        print(markdown)
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")


def table_cell(text: str) -> str:
    """`text` safe in a Markdown table cell: `|` escaped, line breaks as spaces, at most 300 characters."""
    # A row is one line, and CommonMark ends a line at LF, CR or CRLF (spec.commonmark.org, "Characters
    # and lines"); GFM's table extension keeps an escaped `\|` in its cell (github.github.com/gfm, Tables).
    flat = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return flat.replace("|", "\\|")[:300]


def key_value_table(rows: list[tuple[str, str]]) -> str:
    """A headerless two-column Markdown table for the summary: one `| key | value |` line per row."""
    return "\n".join(["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)])


def details(title: str, body: str, language: str = "") -> str:
    """Fold raw tool output into a collapsed `<details>` block for the summary."""
    return f"<details><summary>{title}</summary>\n\n```{language}\n{body.rstrip()}\n```\n\n</details>"


def mask(secret: str) -> None:
    """Ask Actions to redact a secret from all later log lines."""
    if secret and in_actions():
        for line in secret.splitlines():
            if line.strip():
                print(f"::add-mask::{line}", flush=True)


def _escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def annotate(
    level: str, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
) -> None:
    """Emit an `::error`/`::warning`/`::notice` annotation in Actions, or a plain line on stderr."""
    if not in_actions():
        where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
        print(f"{level}: {where}{message}", file=sys.stderr, flush=True)
        return
    properties = []
    if file:
        properties.append(f"file={_escape(file, property_value=True)}")
    if line:
        properties.append(f"line={line}")
    if title:
        properties.append(f"title={_escape(title, property_value=True)}")
    head = f"::{level} {','.join(properties)}::" if properties else f"::{level}::"
    print(head + _escape(message), flush=True)


def report_error(message: str) -> None:
    """Annotate a step's error and put it at the top of the summary (in Actions)."""
    annotate("error", message)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        add_summary(f"❌ {message}")


def die(message: str, exit_code: int = 1) -> NoReturn:
    """Fail the step: report the error, exit non-zero."""
    report_error(message)
    raise SystemExit(exit_code)


class StepResult(Protocol):
    """What a step's `run` returns: whether its gate passed, and its outputs by their action names."""

    @property
    def passed(self) -> bool: ...

    def outputs(self) -> dict[str, str]: ...


Result = TypeVar("Result", bound=StepResult)


def set_outputs(outputs: Mapping[str, object]) -> None:
    """Write every output of a step."""
    for name, value in outputs.items():
        set_output(name, value)


def finish(result: Result, report: Callable[[Result], None]) -> int:
    """The end of a step's `main`: its outputs, then its summary and annotations; 0 if it passed, else 1."""
    set_outputs(result.outputs())
    report(result)
    return 0 if result.passed else 1


def conclude(work: Callable[[], Result], report: Callable[[Result], None]) -> int:
    """A step's `main` after parsing: run the work and `finish`; a `StepError` dies cleanly, after
    `finish`ing what the step completed before it (its `partial`)."""
    try:
        result = work()
    except StepError as error:
        if error.partial is not None:
            finish(cast(Result, error.partial), report)
        die(str(error), error.exit_code)
    return finish(result, report)


@contextmanager
def step_errors() -> Iterator[None]:
    """Turn a `StepError` raised anywhere in the step into a clean `die()`."""
    try:
        yield
    except StepError as error:
        die(str(error), error.exit_code)


def read_outputs(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a `$GITHUB_OUTPUT` file (`name=value` lines and `name<<DELIMITER` blocks)."""
    outputs: dict[str, str] = {}
    lines = iter(Path(path).read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                block.append(body_line)
            outputs[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs
