"""Errors across the Flight hop: the server sends a typed error, the client re-raises it
with the same type and text, so a limit hit on a store gateway reads to the user as in
`all` mode."""
from __future__ import annotations

import re

import orjson
import pyarrow.flight as fl

_TAG = "mytsdb-error:"


class BackendUnavailable(Exception):
    """The server could not be reached or did not answer in time: a failed replica."""


class RemoteError(Exception):
    """A typed error from the server: `error_type` is Prometheus' (bad_data, execution, ...)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def to_flight(error_type: str, message: str, unauthenticated: bool = False) -> fl.FlightError:
    text = _TAG + orjson.dumps({"type": error_type, "message": message}).decode()
    return fl.FlightUnauthenticatedError(text) if unauthenticated else fl.FlightServerError(text)


def from_flight(e: Exception) -> Exception:
    """The exception a client raises for a Flight error."""
    if isinstance(e, (fl.FlightUnavailableError, fl.FlightTimedOutError, fl.FlightCancelledError, ConnectionError)):
        return BackendUnavailable(str(e).split("\n")[0])
    match = re.search(re.escape(_TAG) + r"(\{.*?\})(?:\. Detail|$|\n)", str(e), re.S)
    if match:
        raw = orjson.loads(match.group(1))
        if isinstance(e, fl.FlightUnauthenticatedError):
            return PermissionError(raw["message"])
        return RemoteError(raw["type"], raw["message"])
    if isinstance(e, fl.FlightError) and "failed to connect" in str(e).lower():
        return BackendUnavailable(str(e).split("\n")[0])
    return RemoteError("internal", str(e))
