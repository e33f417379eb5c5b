"""The parse error type, worded and positioned like Prometheus' ParseErr."""
from __future__ import annotations


class PositionedError(Exception):
    """Raised inside the parser with a character offset; `parse` turns it into ParseError."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class ParseError(ValueError):
    """A PromQL syntax or type error: `str()` is `<line>:<col>: parse error: <message>`.

    Columns count bytes from 1, as Prometheus' do, so they agree for non-ASCII queries.
    """

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: parse error: {message}")
        self.message = message
        self.line = line
        self.column = column

    @classmethod
    def at(cls, text: str, message: str, pos: int) -> ParseError:
        """Build the error for character offset `pos` of `text`."""
        pos = max(0, min(pos, len(text)))
        before = text[:pos]
        line_start = before.rfind("\n") + 1
        column = len(before[line_start:].encode("utf-8", "surrogateescape")) + 1
        return cls(message, before.count("\n") + 1, column)
