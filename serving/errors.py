"""The one exception a client's mistake raises; the app turns it into a JSON 4xx."""

from __future__ import annotations


class ClientError(Exception):
    """A request the client can fix: `status` is the HTTP status, `message` says what and how."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ClientError:
    """A 400 with `message`."""
    return ClientError(400, message)
