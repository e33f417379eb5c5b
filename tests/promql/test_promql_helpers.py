"""Durations, Go-compatible numbers and strings, and label matchers."""
import math

import pyarrow as pa
import pytest

from promql.durations import format_duration_ms, parse_duration_ms
from promql.lexer import tokenize
from promql.matchers import Matcher
from promql.numbers import format_float, format_float_v, parse_go_number
from promql.strings import go_quote, unquote


@pytest.mark.parametrize("text,ms", [
    ("1h30m", 5_400_000), ("90s", 90_000), ("1y", 31_536_000_000), ("1w", 604_800_000),
    ("1d", 86_400_000), ("5ms", 5), ("1m5s10ms", 65_010), ("0", 0), ("0s", 0),
])
def test_parse_duration(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text,message", [
    ("5m1h", 'not a valid duration string: "5m1h"'),
    ("1s1s", 'not a valid duration string: "1s1s"'),
    ("5y1hs", 'unknown unit "hs" in duration "5y1hs"'),
    ("", "empty duration string"),
    ("1000000y", "duration out of range"),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        parse_duration_ms(text)


@pytest.mark.parametrize("ms,text", [
    (0, "0s"), (5_400_000, "1h30m"), (90_000, "1m30s"), (86_400_000 * 90, "90d"),
    (604_800_000 * 2, "2w"), (31_536_000_000, "1y"), (1, "1ms"), (3_601_001, "1h1s1ms"),
])
def test_format_duration(ms, text):
    assert format_duration_ms(ms) == text


def test_go_numbers():
    assert parse_go_number("0777") == 511
    assert parse_go_number("0x_ff") == 255
    assert parse_go_number("1e-3") == 0.001
    with pytest.raises(ValueError, match="invalid syntax"):
        parse_go_number("1__0")
    assert format_float(1e21) == "1000000000000000000000"
    assert format_float(0.1 + 0.2) == "0.30000000000000004"
    assert format_float(-0.0) == "-0"
    assert format_float_v(123456.0) == "123456"
    assert format_float_v(1234567.0) == "1.234567e+06"
    assert format_float_v(0.00001) == "1e-05"
    assert format_float_v(math.inf) == "+Inf"


def test_go_strings():
    assert go_quote('a"b\\c\n\x00é\u200b') == '"a\\"b\\\\c\\n\\x00é\\u200b"'
    assert unquote(r'"\x41\101\u00e9\U0001F600\'"'.replace("\\'", "'")) == "AAé\U0001F600'"
    assert unquote("`\\n`") == "\\n"
    assert go_quote(unquote(r'"\xff"')) == r'"\xff"'


def test_lexer_tokens():
    kinds = [(t.type, t.value) for t in tokenize("sum BY (a) (x{on='1'}[5m:1m] offset -1h) # c")]
    assert kinds == [
        ("SUM", "sum"), ("BY", "BY"), ("LEFT_PAREN", "("), ("IDENTIFIER", "a"), ("RIGHT_PAREN", ")"),
        ("LEFT_PAREN", "("), ("IDENTIFIER", "x"), ("LEFT_BRACE", "{"), ("IDENTIFIER", "on"), ("EQL", "="),
        ("STRING", "'1'"), ("RIGHT_BRACE", "}"), ("LEFT_BRACKET", "["), ("DURATION", "5m"), ("COLON", ":"),
        ("DURATION", "1m"), ("RIGHT_BRACKET", "]"), ("OFFSET", "offset"), ("SUB", "-"), ("DURATION", "1h"),
        ("RIGHT_PAREN", ")"),
    ]
    assert [t.type for t in tokenize("Inf nan 0x1F a:b fill fill()")] == [
        "NUMBER", "NUMBER", "NUMBER", "METRIC_IDENTIFIER", "IDENTIFIER", "FILL", "LEFT_PAREN", "RIGHT_PAREN"]


@pytest.mark.parametrize("matcher,value,expected", [
    (Matcher("a", "=", "x"), "x", True), (Matcher("a", "=", "x"), "y", False),
    (Matcher("a", "!=", "x"), "y", True), (Matcher("a", "=~", "x|y"), "y", True),
    (Matcher("a", "=~", "x"), "xx", False),  # anchored
    (Matcher("a", "=~", "a.b"), "a\nb", True),  # Prometheus 3: . matches newline
    (Matcher("a", "=~", "a.b", dot_matches_newline=False), "a\nb", False),
    (Matcher("a", "!~", "x.*"), "xyz", False), (Matcher("a", "=~", ".*"), "", True),
    (Matcher("a", "=~", "(?i)ABC"), "abc", True),
])
def test_matcher_matches(matcher, value, expected):
    assert matcher.matches(value) is expected
    assert matcher.match_array(pa.array([value])).to_pylist() == [expected]


def test_match_array_treats_null_as_empty():
    values = pa.array(["a", None, "", "b"])
    assert Matcher("l", "=", "").match_array(values).to_pylist() == [False, True, True, False]
    assert Matcher("l", "!=", "").match_array(values).to_pylist() == [True, False, False, True]
    assert Matcher("l", "=~", "a|").match_array(values).to_pylist() == [True, True, True, False]
    assert Matcher("l", "!~", ".+").match_array(values).to_pylist() == [False, True, True, False]


def test_matcher_pattern_and_str():
    assert Matcher("a", "=~", "x").pattern == "^(?s:x)$"
    assert str(Matcher("a.b", "!~", 'x"')) == '"a.b"!~"x\\""'


def test_regex_validation():
    Matcher("a", "=~", "ok|fine").validate()
    with pytest.raises(ValueError, match="missing closing"):
        Matcher("a", "=~", "(").validate()
