"""Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus' regex semantics.

Regexes are fully anchored and, as in Prometheus 3, `.` also matches a newline. They
run on Arrow's RE2 (`pyarrow.compute.match_substring_regex`), which is the engine
Prometheus uses, so there is no translation to Python's `re` to get subtly wrong. An
absent label (null) matches like the empty string, as in Prometheus.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

MatchOp = Literal["=", "!=", "=~", "!~"]

# RE2 error texts as Go's regexp/syntax words them.
_RE2_TO_GO = MappingProxyType({
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "invalid escape sequence": "invalid escape sequence",
    "invalid UTF-8": "invalid UTF-8",
})


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    dot_matches_newline: bool = True  # Prometheus 3 semantics; False gives 2.x behaviour

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def pattern(self) -> str:
        """The anchored RE2 pattern of a regex matcher."""
        flags = "s" if self.dot_matches_newline else ""
        return f"^(?{flags}:{self.value})$" if flags else f"^(?:{self.value})$"

    def validate(self) -> None:
        """Raise ValueError (with Go's wording) if the regex does not compile."""
        if self.is_regex:
            empty = pa.array([""], pa.string())
            for pattern in (self.value, self.pattern):  # bare first: its errors name the fragment
                try:
                    pc.match_substring_regex(empty, pattern)
                except pa.ArrowInvalid as exc:
                    raise ValueError(_go_regex_error(str(exc))) from None

    def match_array(self, values: pa.Array) -> pa.BooleanArray:
        """Vectorised match over a string array; nulls count as empty strings."""
        filled = pc.fill_null(values, "") if values.null_count else values
        if self.op == "=":
            result = pc.equal(filled, self.value)
        elif self.op == "!=":
            result = pc.not_equal(filled, self.value)
        else:
            result = pc.match_substring_regex(filled, self.pattern)
            if self.op == "!~":
                result = pc.invert(result)
        return result

    def matches(self, s: str) -> bool:
        if self.op == "=":
            return s == self.value
        if self.op == "!=":
            return s != self.value
        return bool(self.match_array(pa.array([s], pa.string()))[0].as_py())

    def __str__(self) -> str:
        from promql.printer import format_matcher

        return format_matcher(self)


def _go_regex_error(arrow_message: str) -> str:
    """Turn `Invalid regular expression: <reason>: <fragment>` into Go's wording."""
    detail = arrow_message.split(":", 1)[-1].strip()
    for re2_text, go_text in _RE2_TO_GO.items():
        if detail.startswith(re2_text):
            fragment = detail[len(re2_text):].lstrip(":").strip()
            return f"error parsing regexp: {go_text}: `{fragment}`"
    return f"error parsing regexp: {detail}"
