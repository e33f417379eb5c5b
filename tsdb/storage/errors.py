"""Storage errors that callers can catch without importing obstore."""

from __future__ import annotations


class ObjectNotFound(KeyError):
    """The object does not exist.

    A KeyError subclass because a bucket behaves like a mapping from key to bytes.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path

    def __str__(self) -> str:
        return f"object not found: {self.path}"
