"""label_replace and label_join: per-series relabelling with Go regexp template expansion."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from promql.ast import Call
from promql.engine.errors import execution_error
from promql.engine.labels import NAME
from promql.engine.values import Value, merge_same_labels

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_]+")


def _valid_name(name: str, v2: bool) -> bool:
    if v2:
        return bool(_LABEL_NAME.match(name))
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(name)


def expand(template: str, match: re.Match[str]) -> str:
    """Go's regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown names expand to ''."""
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$" or i + 1 >= len(template):
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            name = template[i + 2:end] if end > 0 else ""
            if end < 0 or not name or not _TEMPLATE_NAME.fullmatch(name):
                out.append("$")
                i += 1
                continue
            i = end + 1
        else:
            m = _TEMPLATE_NAME.match(template, i + 1)
            if not m:
                out.append("$")
                i += 1
                continue
            name = m.group(0)
            i = m.end()
        out.append(_group(match, name))
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    try:
        if name.isdigit():
            idx = int(name)
            return (match.group(idx) or "") if idx <= (match.re.groups or 0) else ""
        return match.group(name) or ""
    except IndexError:
        return ""


def label_replace(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    dst, repl, src, regex = (ev.eval_string(a) for a in call.args[1:5])
    try:
        pattern = re.compile(("^(?:" if ev.v2 else "^(?s:") + _go_regex_to_python(regex) + ")$")
    except re.error as exc:
        raise execution_error(f"invalid regular expression in label_replace(): {exc}") from None
    if not _valid_name(dst, ev.v2):
        raise execution_error(f"invalid destination label name in label_replace(): {dst}")
    matches = [pattern.match(lb.get(src, "")) for lb in vec.labels]  # per series
    return _set_label(ev, vec, dst, [None if m is None else expand(repl, m) for m in matches])


def label_join(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    dst, sep = ev.eval_string(call.args[1]), ev.eval_string(call.args[2])
    srcs = [ev.eval_string(a) for a in call.args[3:]]
    if not _valid_name(dst, ev.v2):
        raise execution_error(f"invalid destination label name in label_join(): {dst}")
    for s in srcs:
        if not _valid_name(s, ev.v2):
            raise execution_error(f"invalid source label name in label_join(): {s}")
    return _set_label(ev, vec, dst, [sep.join(lb.get(s, "") for s in srcs) for lb in vec.labels])


def _set_label(ev: "Evaluator", vec, dst: str, values: list[str | None]) -> Value:
    """Set label `dst` of each series to its value (an empty value removes the label; None
    leaves the series untouched), then merge series that became identical."""
    labels = []
    drops = vec.drops().copy()
    for i, (lb, value) in enumerate(zip(vec.labels, values)):  # per series
        if value is None:
            labels.append(lb)
            continue
        new = dict(lb)
        if value:
            new[dst] = value
        else:
            new.pop(dst, None)
        if dst == NAME:
            drops[i] = False
        labels.append(new)
    out = replace(vec, labels=labels, drop_name=None if ev.v2 else drops, order=None)
    return merge_same_labels(out)


def _go_regex_to_python(regex: str) -> str:
    """Go RE2 and Python `re` agree on the common syntax; translate the few differences."""
    return regex.replace("(?P<", "(?P<").replace(r"\z", r"\Z")
