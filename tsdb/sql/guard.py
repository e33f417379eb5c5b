"""The Flight SQL security boundary, before DataFusion sees a statement.

The boundary itself is structural: a statement runs with DDL, DML and statements (`SET`,
...) disallowed by DataFusion's `SQLOptions`, in a session that holds nothing but the
tenant's tables, with URL tables off. This module refuses, with a message that says why,
what could reach files if that ever changed, and what no query over the contract needs:
anything but one query (`COPY`, DDL, DML, `SET`; also behind `EXPLAIN`); file-reading
table functions; a string literal in a table position (`FROM '/path/x.parquet'`); and a
string literal that names a file or object path: an object-store or `file:` URL, a `..`
segment, a data file (`x.parquet`, `x.csv`), a key of the bucket's layout
(`team-b/data/...`), or a place under the server's own directories (`roots`: the bucket,
the data dir).
Ordinary values pass: `WHERE handler = '/api/v1/query'`, `WHERE instance = 'http://a:9100'`.

The statement is split into code, string literals and comments the way DataFusion's parser
(the generic dialect) reads it: `''` inside a literal, `E'..'` with backslash escapes,
`$tag$..$tag$`, nested `/* */`. A literal that looks like a comment hides nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datafusion import SQLOptions

QUERY_OPTIONS = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)

_FIRST_WORD = re.compile(r"^\s*\(*\s*(\w+)")
_FILE_FUNCTION = re.compile(r"\b(read_\w+|\w*_scan|parquet_metadata|glob)\s*\(", re.I)
_EXPLAIN = re.compile(r"^\s*explain\s+(analyze\s+)?(verbose\s+)?(format\s+\w+\s+)?", re.I)
_TABLE_LITERAL = re.compile(r"\b(from|join)\s*\(*\s*'", re.I)
_DOLLAR = re.compile(r"\$(\w*)\$")
_READ_ONLY_STARTS = frozenset({"select", "with", "values", "explain", "describe"})
# Schemes of object stores and files (http(s) URLs are common label values and stay allowed).
_STORE_URL = re.compile(r"^\s*(file|s3a?|s3n|gs|gcs|az|abfss?|adl|azure|wasbs?|hdfs|oss|cos|r2|memory|hf)://", re.I)
_PARENT = re.compile(r"(^|[/\\])\.\.([/\\]|$)")
# A key of the bucket's layout (`tsdb.layout.paths`): `<tenant>/data/...`, `~mytsdb/...`.
_BUCKET_KEY = re.compile(r"^\s*(~mytsdb/|[A-Za-z0-9_.-]{1,150}/(data|series|manifest|deletion-marks|downsampled)(/|$))")
_DATA_FILE = re.compile(r"\.(parquet|csv|tsv|arrow|ipc|feather|avro|orc)(\.(gz|zst|bz2|xz))?\s*$", re.I)


class SqlRefused(ValueError):
    """A statement that is not a query over the tenant's tables."""


@dataclass(frozen=True)
class Lexed:
    """A statement apart: `code` with every literal as `''`, every quoted identifier
    unquoted and every comment as a space, and the literals' values."""

    code: str
    literals: tuple[str, ...]
    placeholders: tuple[int, ...] = ()  # offsets of `?` parameters in the statement


def lex(sql: str) -> Lexed:
    code: list[str] = []
    literals: list[str] = []
    placeholders: list[int] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            code.append(" ")
        elif sql.startswith("/*", i):
            i = _block_comment_end(sql, i)
            code.append(" ")
        elif c == "'" or (c in "eE" and sql.startswith("'", i + 1) and not _in_word(sql, i)):
            value, i = _string(sql, i + (c != "'"), backslash=c != "'")
            literals.append(value)
            code.append("''")
        elif c == '"':
            end = i + 1
            while True:  # a quoted identifier: `""` inside it is a quote
                end = sql.find('"', end)
                if end < 0 or not sql.startswith('"', end + 1):
                    break
                end += 2
            end = n if end < 0 else end + 1
            # A plain word unquoted, so a quoted function name (`"read_parquet"(…)`) is still
            # seen; any other name as `""`.
            name = sql[i + 1:end - 1]
            code.append(f" {name} " if name.isidentifier() else '""')
            i = end
        elif c == "$" and (m := _DOLLAR.match(sql, i)) is not None and not _in_word(sql, i):
            end = sql.find(m.group(0), m.end())
            literals.append(sql[m.end():n if end < 0 else end])
            code.append("''")
            i = n if end < 0 else end + len(m.group(0))
        else:
            if c == "?":
                placeholders.append(i)
            code.append(c)
            i += 1
    return Lexed("".join(code), tuple(literals), tuple(placeholders))


def numbered_placeholders(sql: str) -> str:
    """`sql` with each `?` parameter (ODBC/JDBC style, what ADBC clients send) as `$1`, `$2`, …
    in order, DataFusion's form; a `?` inside a literal, identifier or comment stays."""
    out, last = [], 0
    for k, at in enumerate(lex(sql).placeholders, start=1):
        out += [sql[last:at], f"${k}"]
        last = at + 1
    return "".join(out) + sql[last:]


def _in_word(sql: str, i: int) -> bool:
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")


def _block_comment_end(sql: str, i: int) -> int:
    depth, i = 0, i
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return i


def _string(sql: str, i: int, backslash: bool) -> tuple[str, int]:
    """The literal opening at `sql[i] == "'"`: its value and the index after it."""
    out: list[str] = []
    i += 1
    while i < len(sql):
        c = sql[i]
        if backslash and c == "\\" and i + 1 < len(sql):
            out.append(sql[i + 1])
            i += 2
        elif c == "'" and sql.startswith("'", i + 1):
            out.append("'")
            i += 2
        elif c == "'":
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), i


def storage_roots(cfg) -> tuple[str, ...]:
    """The server's own directories and bucket URL (`tsdb.config.Config`), which no literal
    may name."""
    roots = {str(Path(cfg.data_dir).expanduser().resolve()), str(cfg.wal_dir.expanduser().resolve())}
    if cfg.storage.backend == "filesystem":
        roots.add(str(Path(cfg.storage.filesystem.directory).expanduser().resolve()))
    return tuple(sorted(r for r in roots if r not in ("/", ".")))


def check(sql: str, roots: tuple[str, ...] = ()) -> None:
    """Raise SqlRefused unless `sql` is one query that names no file."""
    lexed = lex(sql)
    code = lexed.code
    explain = _EXPLAIN.match(code)
    first = _FIRST_WORD.match(code[explain.end():] if explain else code)
    if first is None or first.group(1).lower() not in _READ_ONLY_STARTS:
        word = first.group(1).upper() if first else "an empty statement"
        raise SqlRefused(f"only queries are allowed (SELECT, WITH, VALUES, EXPLAIN), not {word}")
    if ";" in code.strip().rstrip(";"):
        raise SqlRefused("one statement per request")
    function = _FILE_FUNCTION.search(code)
    if function is not None:
        raise SqlRefused(f"{function.group(1)}() reads files; only the tables samples and series can be queried")
    if _TABLE_LITERAL.search(code):
        raise SqlRefused("a string literal cannot be read as a table: only the tables samples and series exist")
    for value in lexed.literals:
        why = _path_reason(value, roots)
        if why is not None:
            raise SqlRefused(f"the string literal {value[:80]!r} names {why}; SQL reads only the tables "
                             "samples and series")


def _path_reason(value: str, roots: tuple[str, ...]) -> str | None:
    if _STORE_URL.match(value):
        return "an object store or file URL"
    if _PARENT.search(value):
        return "a parent directory (`..`)"
    if _DATA_FILE.search(value):
        return "a data file"
    if _BUCKET_KEY.match(value):
        return "an object key of the bucket"
    path = value.strip()
    path = path[len("file://"):] if path.lower().startswith("file://") else path
    if any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
        return "a path in the server's storage"
    return None
