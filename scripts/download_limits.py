"""The limits every download of the fetch step keeps: a size cap and a deadline over all of a model's
files, whatever the source (inputs `max-size-mb` and `timeout`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from scripts import gha


@dataclass(frozen=True)
class Limits:
    """How much, how long, and how many tries a download may take."""

    max_bytes: int
    timeout: float
    attempts: int = 4
    longest_wait: float = 60.0


@dataclass
class Transfer:
    """The running totals of one model's download (all its files), checked against its limits."""

    limits: Limits
    where: str  # the host or storage account, for messages
    started: float = field(default_factory=time.monotonic)
    total: int = 0

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.limits.timeout - (time.monotonic() - self.started)

    def seconds(self) -> float:
        """Seconds since the download started."""
        return time.monotonic() - self.started

    def expect(self, size: int, what: str) -> None:
        """Refuse before reading `size` more bytes of `what` when they would not fit under the cap."""
        if self.total + size > self.limits.max_bytes:
            raise self.size_error(self.total + size, what)

    def add(self, size: int, what: str) -> None:
        """Count `size` more bytes read from `what`; refuse when over the cap or past the deadline."""
        self.total += size
        if self.total > self.limits.max_bytes:
            raise self.size_error(self.total, what)
        if self.remaining() < 0:
            raise self.timeout_error(what)

    def timeout_error(self, what: str) -> gha.StepError:
        """The error for a download past its deadline."""
        return gha.StepError(
            f"fetching the model from {self.where} did not finish within {self.limits.timeout:g} s "
            f"({self.total} bytes read, at {what}); check the server, or raise {gha.input_name('timeout')} "
            "for a big "
            "model on a slow link"
        )

    def size_error(self, size: int, what: str) -> gha.StepError:
        """The error for a model over the size cap."""
        return gha.StepError(
            f"the model's files are larger than the limit of {self.limits.max_bytes / 1024 / 1024:g} MB "
            f"(at least {size} bytes, at {what}); raise {gha.input_name('max-size-mb')} if this model "
            "really is that big"
        )
