"""A reader for Prometheus' `.test` files (promql/promqltest format) and the result checks.

Test support, not product code: it turns a file into segments (data between `clear`s) of
series to load and evals to run, and compares engine results the way Prometheus' own
runner does (relative tolerance 1e-6, NaN equals NaN, exact float comparison for zeros).
"""
from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from promql import parse_series_selector
from promql.durations import parse_duration_ms
from promql.numbers import parse_go_number

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]

_NUM = r"(?:[+-]?(?:Inf|inf|NaN|nan|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))"
_NUM_UNSIGNED = r"(?:Inf|inf|NaN|nan|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
_VALUE_RE = re.compile(rf"^(?P<a>{_NUM})(?:(?P<op>[+-])(?P<b>{_NUM_UNSIGNED}))?(?:x(?P<n>\d+))?$")
_EVAL_RE = re.compile(
    r"^eval(?P<mod>_ordered|_fail|_warn|_info)?\s+(?:instant\s+at\s+(?P<at>\S+)|"
    r"range\s+from\s+(?P<start>\S+)\s+to\s+(?P<end>\S+)\s+step\s+(?P<step>\S+))\s+(?P<expr>.+?)\s*$")
_RANGE_VECTOR_RE = re.compile(r"^expect\s+range\s+vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s*$")


@dataclass
class ExpectedSeries:
    labels: dict[str, str]
    values: list[float | None]  # None: no sample at that step ('_')


@dataclass
class EvalCase:
    name: str  # "<file>:<line>"
    line: int
    expr: str
    is_range: bool
    time_ms: int = 0
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    expected: list[ExpectedSeries] = field(default_factory=list)
    scalar: float | None = None
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None  # expected matrix steps of an instant eval
    uses_native_histograms: bool = False


@dataclass
class Segment:
    series: list[tuple[dict[str, str], list[tuple[int, float]]]] = field(default_factory=list)
    evals: list[EvalCase] = field(default_factory=list)
    native_histograms: bool = False  # loads native histogram samples (which we skip)


def parse_time_ms(text: str) -> int:
    """Eval times: a duration (`50m`, `1h30m`) or plain seconds (`0`, `-10`, `1.5`)."""
    try:
        return parse_duration_ms(text)
    except ValueError:
        return int(round(float(text) * 1000))


def parse_number(text: str) -> float | None:
    """strconv.ParseFloat-like: an optional sign, then a Go number."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    try:
        return sign * parse_go_number(body)
    except ValueError:
        return None


def _num(text: str) -> float:
    v = parse_number(text)
    if v is None:
        raise ValueError(f"bad number {text!r}")
    return v


def expand_values(tokens: list[str]) -> tuple[list[float | None], bool]:
    """Series value notation: `a+bxN`, `vxN`, `_`, `_xN`, `stale`. Returns (values, had_histograms)."""
    out: list[float | None] = []
    histo = False
    for tok in tokens:
        if "{{" in tok:
            histo = True
            out.append(None)
            continue
        if tok == "_":
            out.append(None)
            continue
        if tok.startswith("_x"):
            out.extend([None] * int(tok[2:]))
            continue
        if tok == "stale":
            out.append(STALE_NAN)
            continue
        m = _VALUE_RE.match(tok)
        if not m:
            raise ValueError(f"bad series value {tok!r}")
        a = _num(m["a"])
        n = int(m["n"]) if m["n"] is not None else None
        if m["op"]:
            b = _num(m["b"]) * (-1 if m["op"] == "-" else 1)
            cur = a
            out.append(cur)
            for _ in range(n or 0):
                cur += b
                out.append(cur)
        elif n is not None:
            out.extend([a] * (n + 1))
        else:
            out.append(a)
    return out, histo


def _split_series_line(line: str) -> tuple[str, list[str]]:
    """`metric{a="b c"} 1 2` -> ('metric{a="b c"}', ['1', '2']); braces may hold spaces."""
    line = line.strip()
    depth, in_str, i = 0, None, 0
    while i < len(line):
        c = line[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == in_str:
                in_str = None
        elif c in "\"'`":
            in_str = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c.isspace() and depth == 0:
            break
        i += 1
    desc, rest = line[:i], line[i:]
    return desc, _split_values(rest)


def _split_values(rest: str) -> list[str]:
    """Whitespace-split, but keep histogram literals (`{{...}}+{{...}}x3`) whole."""
    toks: list[str] = []
    i, n = 0, len(rest)
    while i < n:
        if rest[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not rest[j].isspace():
            if rest.startswith("{{", j):
                end = rest.find("}}", j)
                j = n if end < 0 else end + 2
            else:
                j += 1
        toks.append(rest[i:j])
        i = j
    return toks


def _labels_of(desc: str) -> dict[str, str]:
    if desc.replace(" ", "") == "{}":
        return {}
    vs = parse_series_selector(desc)
    return {m.name: m.value for m in vs.matchers}


def parse_file(path: Path) -> list[Segment]:
    lines = path.read_text(encoding="utf-8").splitlines()
    segments = [Segment()]
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line == "clear":
            segments.append(Segment())
            continue
        words = line.split()
        if words[0] in ("load", "load_with_nhcb"):
            gap = parse_duration_ms(words[1])
            if segments[-1].evals:  # a load after evals: later evals see old and new data
                segments.append(Segment(list(segments[-1].series), [], segments[-1].native_histograms))
            block: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[tuple[int, float]]]] = {}
            while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(("eval", "load", "clear")):
                body = lines[i].strip()
                i += 1
                if body.startswith("#"):
                    continue
                desc, toks = _split_series_line(body)
                try:
                    vals, histo = expand_values(toks)
                    labels = _labels_of(desc)
                except ValueError:  # notation we do not model (e.g. start timestamps)
                    segments[-1].native_histograms = True
                    continue
                if histo:
                    segments[-1].native_histograms = True
                samples = [(k * gap, v) for k, v in enumerate(vals) if v is not None]
                block[tuple(sorted(labels.items()))] = (labels, samples)
            if words[0] == "load_with_nhcb":
                segments[-1].native_histograms = True
            segments[-1].series.extend(block.values())
            continue
        m = _EVAL_RE.match(line)
        if not m:
            raise ValueError(f"{path.name}:{i}: cannot parse {line!r}")
        case = EvalCase(name=f"{path.parent.name}/{path.name}:{i}", line=i, expr=m["expr"],
                        is_range=m["at"] is None)
        if case.is_range:
            case.start_ms, case.end_ms = parse_time_ms(m["start"]), parse_time_ms(m["end"])
            case.step_ms = parse_time_ms(m["step"])
        else:
            case.time_ms = parse_time_ms(m["at"])
        case.fail = m["mod"] == "_fail"
        case.ordered = m["mod"] == "_ordered"
        while i < len(lines) and lines[i].strip() and not re.match(r"^(eval|load|clear)\b", lines[i].strip()):
            body = lines[i].strip()
            i += 1
            if body.startswith("#"):
                continue
            if body.startswith("expect "):
                _directive(case, body)
                continue
            num = parse_number(body)
            if num is not None:
                case.scalar = num
                continue
            desc, toks = _split_series_line(body)
            vals, histo = expand_values(toks)
            case.uses_native_histograms |= histo
            case.expected.append(ExpectedSeries(_labels_of(desc), vals))
        segments[-1].evals.append(case)
    return [s for s in segments if s.evals or s.series]


def _directive(case: EvalCase, body: str) -> None:
    rest = body[len("expect "):].strip()
    if rest.startswith("fail"):
        case.fail = True
        tail = rest[4:].strip()
        if tail.startswith("msg:"):
            case.fail_msg = tail[4:].strip()
        elif tail.startswith("regex:"):
            case.fail_regex = tail[6:].strip()
    elif rest == "ordered":
        case.ordered = True
    elif rest.startswith("string"):
        text = rest[len("string"):].strip()
        case.string = _unquote(text)
    elif rest.startswith("range vector"):
        m = _RANGE_VECTOR_RE.match(body)
        assert m, body
        case.range_vector = (parse_time_ms(m[1]), parse_time_ms(m[2]), parse_time_ms(m[3]))
    # warn / info / no_warn / no_info: annotations are not compared.


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        if text[0] == "`":
            return text[1:-1]
        from promql.strings import unquote

        return unquote(text)
    return text


# ---------------------------------------------------------------------------------------
# Comparison


MIN_NORMAL = 2.2250738585072014e-308
EPSILON = 1e-6


def almost_equal(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < MIN_NORMAL:
        return diff < EPSILON * MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < EPSILON


def label_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def fmt_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def compare_vector(case: EvalCase, got: list[tuple[dict[str, str], float]], ordered: bool) -> str | None:
    """None if `got` matches the case's expected instant vector, else a reason."""
    expected = {label_key(e.labels): (pos, e) for pos, e in enumerate(case.expected)}
    seen = set()
    for pos, (labels, value) in enumerate(got):
        key = label_key(labels)
        if key not in expected:
            return f"unexpected metric {fmt_labels(labels)} = {value} in result"
        epos, exp = expected[key]
        if ordered and epos != pos:
            return f"expected metric {fmt_labels(labels)} at position {epos + 1} but was at {pos + 1}"
        want = exp.values[0] if exp.values else None
        if want is None or not almost_equal(want, value):
            return f"expected {want} for {fmt_labels(labels)} but got {value}"
        if key in seen:
            return f"duplicate metric {fmt_labels(labels)} in result"
        seen.add(key)
    for key, (_, exp) in expected.items():
        if key not in seen:
            return f"expected metric {fmt_labels(exp.labels)} with {exp.values} not found"
    return None


def compare_matrix(case: EvalCase, got: list[tuple[dict[str, str], list[int], list[float]]],
                   start_ms: int, step_ms: int) -> str | None:
    """Compare a matrix with expected series written in value notation from `start_ms`."""
    expected = {label_key(e.labels): e for e in case.expected}
    seen = set()
    for labels, ts, vals in got:
        key = label_key(labels)
        exp = expected.get(key)
        if exp is None:
            return f"unexpected series {fmt_labels(labels)} in result: {list(zip(ts, vals))}"
        want = [(start_ms + k * step_ms, v) for k, v in enumerate(exp.values) if v is not None]
        if len(want) != len(ts):
            return f"series {fmt_labels(labels)}: expected {want}, got {list(zip(ts, vals))}"
        for (wt, wv), gt, gv in zip(want, ts, vals):
            if wt != gt or not (almost_equal(wv, gv) or (math.isnan(wv) and math.isnan(gv))):
                return f"series {fmt_labels(labels)}: expected {want}, got {list(zip(ts, vals))}"
        seen.add(key)
    for key, exp in expected.items():
        if key not in seen and any(v is not None for v in exp.values):
            return f"expected series {fmt_labels(exp.labels)} not found"
    return None
