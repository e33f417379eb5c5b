"""`tsdb.sql.guard`: what Flight SQL refuses before DataFusion plans it, and what it lets
through, including literals that only look like comments or paths."""
from __future__ import annotations

import pytest

from tsdb.sql.guard import SqlRefused, check, lex, numbered_placeholders

ROOTS = ("/srv/mytsdb/data", "/srv/mytsdb/data/bucket")


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM samples WHERE job = 'api'",
    "  (SELECT 1)",
    "WITH x AS (SELECT * FROM series) SELECT count(*) FROM x",
    "EXPLAIN SELECT * FROM samples",
    "EXPLAIN ANALYZE VERBOSE SELECT * FROM samples",
    "SELECT * FROM samples WHERE labels['handler'] = '/api/v1/query'",
    "SELECT * FROM samples WHERE instance = 'http://10.0.0.1:9100/metrics'",
    "SELECT * FROM samples WHERE labels['file'] = '/etc/prometheus/targets.json'",
    "SELECT * FROM samples WHERE labels['handler'] = '/api/v1/data/upload'",
    "SELECT 'it''s', E'a\\'b', $$a'b$$ FROM samples;",
    "SELECT 1 /* a /* nested */ comment */ FROM samples -- trailing ; comment",
    "SELECT * FROM promql('sum by (job) (rate(x[5m]))', 0, 60, '1m')",
    'SELECT "read_parquet(" FROM samples',
])
def test_queries_pass(sql):
    check(sql, ROOTS)


@pytest.mark.parametrize("sql, why", [
    ("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/x'", "not CREATE"),
    ("COPY samples TO '/tmp/x.csv'", "not COPY"),
    ("EXPLAIN COPY (SELECT 1) TO '/tmp/x'", "not COPY"),
    ("EXPLAIN ANALYZE INSERT INTO samples VALUES (1)", "not INSERT"),
    ("INSERT INTO samples VALUES (1)", "not INSERT"),
    ("DROP VIEW samples", "not DROP"),
    ("SET datafusion.catalog.information_schema = true", "not SET"),
    ("/* SELECT */ DELETE FROM samples", "not DELETE"),
    ("", "empty statement"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT * FROM read_parquet('x')", "read_parquet() reads files"),
    ("SELECT * FROM READ_CSV ('x')", "READ_CSV() reads files"),
    ('SELECT * FROM "read_parquet"(\'x\')', "read_parquet() reads files"),  # a quoted name is still a name
    ("SELECT * FROM parquet_scan('x')", "parquet_scan() reads files"),
    ("SELECT '--', * FROM read_parquet('x')", "read_parquet() reads files"),  # not a comment: a literal
    ("SELECT '/*', * FROM read_json('x') -- */", "read_json() reads files"),
    ("SELECT * FROM '/tmp/x'", "cannot be read as a table"),
    ("SELECT * FROM samples JOIN ('y') ON true", "cannot be read as a table"),
    ("SELECT * FROM samples WHERE metric = 's3://metrics/team-b/data/x'", "object store or file URL"),
    ("SELECT * FROM samples WHERE metric = 'FILE:///etc/passwd'", "object store or file URL"),
    ("SELECT * FROM samples WHERE metric = '../team-b/data/'", "parent directory"),
    ("SELECT * FROM samples WHERE metric = E'..\\\\team-b'", "parent directory"),
    ("SELECT * FROM samples WHERE metric = 'team-b/data/2026-11-24/L0-1.parquet'", "a data file"),
    ("SELECT $t$x.csv$t$ FROM samples", "a data file"),
    ("SELECT * FROM samples WHERE metric = 'team-b/data/2026-11-24/'", "object key of the bucket"),
    ("SELECT * FROM samples WHERE metric = 'team-b/manifest'", "object key of the bucket"),
    ("SELECT * FROM samples WHERE metric = '~mytsdb/ring'", "object key of the bucket"),
    ("SELECT * FROM samples WHERE metric = '/srv/mytsdb/data/wal/00000001'", "server's storage"),
    ("SELECT * FROM samples WHERE metric = '/srv/mytsdb/data'", "server's storage"),
])
def test_refused_with_a_reason(sql, why):
    with pytest.raises(SqlRefused, match="(?i)" + why.replace("(", r"\(").replace(")", r"\)")):
        check(sql, ROOTS)


def test_lex_splits_code_literals_and_comments():
    lexed = lex("SELECT 'a''b', E'c\\'d', $q$e'f$q$, \"g\"\"h\" /* '/* x */' */ -- 'i'\nFROM t")
    assert lexed.literals == ("a'b", "c'd", "e'f")
    assert lexed.code.split() == ["SELECT", "'',", "'',", "'',", '""', "FROM", "t"]


def test_question_mark_parameters_are_numbered_outside_literals_and_comments():
    sql = "SELECT '?', \"a?\" FROM samples WHERE job = ? AND value > ? -- ?\n AND instance = ?"
    assert numbered_placeholders(sql) == ("SELECT '?', \"a?\" FROM samples WHERE job = $1 AND value > $2 -- ?\n"
                                          " AND instance = $3")
    assert numbered_placeholders("SELECT $1") == "SELECT $1"
