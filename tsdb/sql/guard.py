"""The Flight SQL security boundary, before DataFusion sees a statement.

Only queries run: DDL, DML and statements (`SET`, ...) are refused by DataFusion's
`SQLOptions` too, and the session holds nothing but the tenant's tables. Refused here,
with a message that says why: file-reading table functions, `COPY`, and a string literal
in a table position (`FROM '/path/x.parquet'`), which DataFusion can be configured to
read as a file. A path inside an ordinary literal (`WHERE path = '/api'`) is just a value.
"""
from __future__ import annotations

import re

from datafusion import SQLOptions

QUERY_OPTIONS = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)

# One left-to-right pass, as DataFusion's lexer reads: a string literal, a quoted identifier
# or a comment, whichever starts first (`'--'` is a string, not the start of a comment).
_TOKENS = re.compile(r"(?P<string>'(?:[^']|'')*')|(?P<ident>\"(?:[^\"]|\"\")*\")|--[^\n]*|/\*.*?\*/", re.S)
_FIRST_WORD = re.compile(r"^\s*\(*\s*(\w+)")
_FILE_FUNCTION = re.compile(r"\b(read_\w+|\w*_scan|parquet_metadata|glob|copy)\s*\(", re.I)
_TABLE_LITERAL = re.compile(r"\b(from|join)\s*\(*\s*'", re.I)
_READ_ONLY_STARTS = frozenset({"select", "with", "values", "explain", "describe", "show"})


class SqlRefused(ValueError):
    """A statement that is not a query over the tenant's tables."""


def _bare(sql: str) -> str:
    """`sql` with every string literal emptied (`''`), quoted identifiers unquoted (so a
    quoted function name is still seen) and comments removed: what is left is SQL."""
    def token(m: re.Match) -> str:
        if m.group("string") is not None:
            return "''"
        if m.group("ident") is not None:
            return " " + m.group("ident")[1:-1].replace('""', '"') + " "
        return " "
    return _TOKENS.sub(token, sql)


def check(sql: str) -> None:
    bare = _bare(sql)
    if _TABLE_LITERAL.search(bare):
        raise SqlRefused("a string literal cannot be read as a table: only the tables samples and series exist")
    first = _FIRST_WORD.match(bare)
    if first is None or first.group(1).lower() not in _READ_ONLY_STARTS:
        word = first.group(1).upper() if first else "an empty statement"
        raise SqlRefused(f"only queries are allowed (SELECT, WITH, VALUES, EXPLAIN), not {word}")
    if ";" in bare.strip().rstrip(";"):
        raise SqlRefused("one statement per request")
    function = _FILE_FUNCTION.search(bare)
    if function is not None:
        raise SqlRefused(f"{function.group(1)}() reads files; only the tables samples and series can be queried")
