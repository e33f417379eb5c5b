"""Error messages and positions, worded as Prometheus words them."""
import pytest

from promql import ParseError, parse, parse_series_selector

CASES = [
    # lexer
    ("", "no expression found in input", None),
    ("# just a comment\n", "no expression found in input", (1, 1)),
    ("foo $ bar", "unexpected character: '$'", (1, 5)),
    (".", "unexpected character: '.'", (1, 1)),
    ("2.5.", 'bad number or duration syntax: "2.5."', (1, 1)),
    ("0deadbeef", 'bad number or duration syntax: "0de"', (1, 1)),
    ("(1))", "unexpected right parenthesis ')'", (1, 5)),
    ("((1)", "unclosed left parenthesis", (1, 5)),
    ("sum(rate(", "unclosed left parenthesis", (1, 10)),
    ("1 !~ 1", "unexpected character after '!': '~'", (1, 3)),
    ("1 =~ 1", "unexpected character after '=': '~'", (1, 3)),
    ("{", "unexpected end of input inside braces", (1, 2)),
    ("}", "unexpected character: '}'", (1, 1)),
    ("some_metric{a:b=\"b\"}", "unexpected character inside braces: ':'", (1, 14)),
    ('foo{a>="b"}', "unexpected character inside braces: '>'", (1, 6)),
    ("foo{1}", "unexpected character inside braces: '1'", (1, 5)),
    ('sum by ("foo)(some_metric{})', "unterminated quoted string", (1, 9)),
    ("`\\``", "unterminated raw string", (1, 4)),
    ('"\\', "escape sequence not terminated", (1, 1)),
    ('"\\c"', "unknown escape sequence U+0063 'c'", (1, 1)),
    ('"\\x."', "illegal character U+002E '.' in escape sequence", (1, 1)),
    ('"\\ud800"', "escape sequence is an invalid Unicode code point", (1, 1)),
    ("foo[5mm]", 'bad number or duration syntax: "5mm"', (1, 5)),
    ("foo[5m:1m1]", 'bad number or duration syntax: "1m1"', (1, 8)),
    ('foo["5m"]', "unexpected character in duration expression: '\"'", (1, 5)),
    ("foo[5s x 5s]", "unexpected character: 'x', expected ':'", (1, 8)),
    ('foo{bar="baz"}[', "unexpected end of input in duration expression", (1, 16)),
    # parser
    ("1+", "unexpected end of input", (1, 3)),
    ("*1", "unexpected <op:*>", (1, 1)),
    ("@@", "unexpected <op:@>", (1, 1)),
    ("-=", 'unexpected "="', (1, 2)),
    ("a - on(b) ignoring(c) d", "unexpected <ignoring>", (1, 11)),
    ("foo + group_left(baz) bar", "unexpected <group_left>", (1, 7)),
    ("some_metric{a=b}", 'unexpected identifier "b" in label matching, expected string', (1, 15)),
    ("foo{gibberish}", 'unexpected "}" in label matching, expected label matching operator', (1, 14)),
    ("foo{__name__= =}", 'unexpected "=" in label matching, expected string', (1, 15)),
    ("foo{,}", 'unexpected "," in label matching, expected identifier or "}"', (1, 5)),
    ('foo{__name__="bar" lol}', 'unexpected identifier "lol" in label matching, expected "," or "}"', (1, 20)),
    ('foo{"a"=}', 'unexpected "}" in label matching, expected string', (1, 9)),
    ("foo[]", 'unexpected "]" in subquery or range selector, expected number, duration, step(), or range()', (1, 5)),
    ("some_metric[5m] OFFSET", "unexpected end of input in offset, expected number, duration, step(), or range()", (1, 23)),
    ("some_metric[5m] @", "unexpected end of input in @, expected timestamp", (1, 18)),
    ("sum without(==)(some_metric)", "unexpected <op:==> in grouping opts, expected label", (1, 13)),
    ("sum without(foo,,)(some_metric)", 'unexpected "," in grouping opts, expected label', (1, 17)),
    ("sum some_metric by (test)", 'unexpected identifier "some_metric"', (1, 5)),
    ("sum (some_metric) by test", 'unexpected identifier "test" in grouping opts, expected "("', (1, 22)),
    ("MIN (some_metric) keep_common", 'unexpected identifier "keep_common"', (1, 19)),
    ("sum (some_metric) without (test) by (test)", "unexpected <by>", (1, 34)),
    ("sum(rate(foo[5m]) by (job))", "unexpected <by> in aggregation", (1, 19)),
    ("foo[5m] 1", 'unexpected number "1"', (1, 9)),
    ('foo + "a very long string"', None, None),
    # semantic errors raised while building
    ("999" * 120, None, None),
    ("foo[5y1hs]", 'unknown unit "hs" in duration "5y1hs"', (1, 5)),
    ("foo[5m1h]", 'not a valid duration string: "5m1h"', (1, 5)),
    ("foo[0m]", "duration must be greater than 0", (1, 5)),
    ("foo[-1]", "duration must be greater than 0", (1, 5)),
    ("foo[9.5e10]", "duration out of range", (1, 5)),
    ("foo[5s/0d]", "division by zero", (1, 7)),
    ("foo[5s%0d]", "modulo by zero", (1, 7)),
    ("some_metric OFFSET 1m[5m]", "no offset modifiers allowed before range", (1, 22)),
    ("some_metric @ 1234 [5m]", "no @ modifiers allowed before range", (1, 20)),
    ("(foo + bar)[5m]", "ranges only allowed for vector selectors", (1, 12)),
    ("1 offset 1d", "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery", (1, 1)),
    ("foo offset 1s offset 2s", "offset may not be set multiple times", (1, 1)),
    ("rate(some_metric[5m]) @ 1234", "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery", (1, 1)),
    ("foo @ 1 @ 2", "@ <timestamp> may not be set multiple times", (1, 1)),
    ("foo @ +Inf", "timestamp out of bounds for @ modifier: +Inf", (1, 1)),
    ("foo @ NaN", "timestamp out of bounds for @ modifier: NaN", (1, 1)),
    ("topk(some_metric,)", "trailing commas not allowed in function call args", (1, 17)),
    ("non_existent_function_far_bar()", 'unknown function with name "non_existent_function_far_bar"', (1, 1)),
    ("RATE(foo[5m])", 'unknown function with name "RATE"', (1, 1)),
    ("sum () by (test)", "no arguments for aggregate expression provided", (1, 1)),
    ("topk(some_metric)", "wrong number of arguments for aggregate expression provided, expected 2, got 1", (1, 1)),
    ('foo{a=~"("}', "error parsing regexp: missing closing ): `(`", (1, 5)),
    ('sum by ("") (foo)', 'invalid label name for grouping: ""', (1, 9)),
    ("foo[5m] anchored smoothed", "anchored and smoothed modifiers cannot be used together", (1, 1)),
    ("foo[5m:] anchored", "anchored modifier is not supported for subqueries", (1, 1)),
    # type checking
    ("1 and 1", 'set operator "and" not allowed in binary scalar expression', (1, 1)),
    ("foo or 1", 'set operator "or" not allowed in binary scalar expression', (1, 1)),
    ("1 == 1", "comparisons between scalars must use BOOL modifier", (1, 3)),
    ("foo + bool bar", "bool modifier can only be used on comparison operators", (1, 5)),
    ("1 or on(bar) foo", "vector matching only allowed between instant vectors", (1, 1)),
    ("foo and on(bar) group_left(baz) bar", 'no grouping allowed for "and" operation', (1, 1)),
    ('a + on(instance) group_left(job,instance) b', 'label "instance" must not occur in ON and GROUP clause at once', (1, 3)),
    ("foo[5m] + 1", "binary expression must contain only scalar and instant vector types", (1, 1)),
    ('"a" + 1', "binary expression must contain only scalar and instant vector types", (1, 1)),
    ("1 + fill(0) foo", "filling in missing series only allowed between instant vectors", (1, 1)),
    ("a and fill(0) b", "filling in missing series not allowed for set operators", (1, 1)),
    ('-"string"', 'unary expression only allowed on expressions of type scalar or instant vector, got "string"', (1, 1)),
    ("-test[5m]", 'unary expression only allowed on expressions of type scalar or instant vector, got "range vector"', (1, 1)),
    ("floor()", 'expected 1 argument(s) in call to "floor", got 0', (1, 1)),
    ("floor(1)", 'expected type instant vector in call to function "floor", got scalar', (1, 7)),
    ("hour(a, a, a)", 'expected at most 1 argument(s) in call to "hour", got 3', (1, 1)),
    ("label_join(a)", 'expected at least 3 argument(s) in call to "label_join", got 1', (1, 1)),
    ("rate(some_metric)", 'expected type range vector in call to function "rate", got instant vector', (1, 6)),
    ("topk(some_metric, other_metric)", "expected type scalar in aggregation parameter, got instant vector", (1, 6)),
    ("count_values(5, other_metric)", "expected type string in aggregation parameter, got scalar", (1, 14)),
    ("sum(foo[5m])", "expected type instant vector in aggregation expression, got range vector", (1, 5)),
    ("test[5d] OFFSET 10s [10m:5s]", "subquery is only allowed on instant vector, got matrix instead", (1, 1)),
    ("{}", "vector selector must contain at least one non-empty matcher", (1, 1)),
    ('{x=~".*"}', "vector selector must contain at least one non-empty matcher", (1, 1)),
    ('{x!="a"}', "vector selector must contain at least one non-empty matcher", (1, 1)),
    ('foo{__name__="bar"}', 'metric name must not be set twice: "foo" or "bar"', (1, 1)),
    ('info(rate(x[5m]), target_info{foo="bar"})', "expected label selectors only, got vector selector instead", (1, 19)),
    # multi-line positions
    ("foo +\n  bar +\n  $", "unexpected character: '$'", (3, 3)),
    ("sum(\n  foo[5m]\n)", "expected type instant vector in aggregation expression, got range vector", (2, 3)),
]


@pytest.mark.parametrize("text,message,position", CASES)
def test_error(text, message, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    if message is not None:
        assert err.message == message
    if position is not None:
        assert (err.line, err.column) == position
        assert str(err) == f"{position[0]}:{position[1]}: parse error: {err.message}"


def test_error_string_format():
    with pytest.raises(ParseError) as info:
        parse("sum(x) * * 2")
    assert str(info.value) == "1:10: parse error: unexpected <op:*>"
    assert isinstance(info.value, ValueError)


def test_empty_input_has_unknown_position():
    with pytest.raises(ParseError) as info:
        parse("")
    assert str(info.value) == "unknown position: parse error: no expression found in input"


def test_number_out_of_range_message():
    with pytest.raises(ParseError) as info:
        parse("9" * 400)
    assert info.value.message.startswith('error parsing number: strconv.ParseFloat: parsing "999')
    assert info.value.message.endswith('": value out of range')


def test_long_token_is_truncated_in_message():
    with pytest.raises(ParseError) as info:
        parse('foo "a very long string"')
    assert info.value.message == 'unexpected string "\\"a very lo"...'


def test_column_counts_bytes():
    with pytest.raises(ParseError) as info:
        parse('foo{a="ü"} $')
    assert info.value.column == 13


def test_syntax_error_before_later_lexical_error():
    with pytest.raises(ParseError) as info:
        parse("* foo $")
    assert info.value.message == "unexpected <op:*>"


@pytest.mark.parametrize("text,message", [
    ("up + 1", "unexpected <op:+>"),
    ("rate(up[5m])", 'unexpected "("'),
    ("{}", "vector selector must contain at least one non-empty matcher"),
])
def test_series_selector_errors(text, message):
    with pytest.raises(ParseError) as info:
        parse_series_selector(text)
    assert info.value.message == message
