"""The exceptions of the serving side: a client's mistake (the app turns it into a JSON 4xx) and a model
folder that cannot be served."""

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


class ModelError(Exception):
    """The model folder cannot be served; the message says what is wrong with it and how to fix it."""
