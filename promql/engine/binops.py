"""Binary operators: arithmetic, comparison and set operations with Prometheus' vector matching."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from promql.ast import COMPARISON_OPS, BinaryExpr, VectorMatching
from promql.engine.errors import execution_error
from promql.engine.labels import NAME, format_labels, group_ids, match_labels, match_signature
from promql.engine.values import InstantVector, Scalar, merge_same_labels

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator

DROPS_NAME_V2 = frozenset({"+", "-", "*", "/", "%", "^"})
DROPS_NAME_V3 = DROPS_NAME_V2 | {"atan2"}


def apply_op(op: str, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Element-wise arithmetic or comparison (comparisons give 0/1 floats) with Go semantics."""
    with np.errstate(all="ignore"):
        if op == "+":
            return lhs + rhs
        if op == "-":
            return lhs - rhs
        if op == "*":
            return lhs * rhs
        if op == "/":
            return lhs / rhs
        if op == "%":
            return np.fmod(lhs, rhs)
        if op == "^":
            return np.power(lhs, rhs)
        if op == "atan2":
            return np.arctan2(lhs, rhs)
        if op == "==":
            return (lhs == rhs).astype(np.float64)
        if op == "!=":
            return (lhs != rhs).astype(np.float64)
        if op == "<":
            return (lhs < rhs).astype(np.float64)
        if op == ">":
            return (lhs > rhs).astype(np.float64)
        if op == "<=":
            return (lhs <= rhs).astype(np.float64)
        if op == ">=":
            return (lhs >= rhs).astype(np.float64)
    raise execution_error(f"operator {op!r} not allowed for float operations")


def scalar_scalar(node: BinaryExpr, lhs: Scalar, rhs: Scalar) -> Scalar:
    return Scalar(apply_op(node.op, lhs.values, rhs.values))


def vector_scalar(ev: "Evaluator", node: BinaryExpr, vec: InstantVector, scalar: Scalar,
                  scalar_on_left: bool) -> InstantVector:
    s = scalar.values[None, :]
    lhs, rhs = (s, vec.values) if scalar_on_left else (vec.values, s)
    res = apply_op(node.op, lhs, rhs)
    present = vec.present
    if node.op in COMPARISON_OPS:
        if not node.return_bool:
            present = present & (res == 1.0)
            res = vec.values
    drop = node.return_bool or node.op in (DROPS_NAME_V2 if ev.v2 else DROPS_NAME_V3)
    out = InstantVector(vec.labels, np.broadcast_to(res, vec.values.shape).copy(), present,
                        vec.drop_name, vec.order)
    return ev.maybe_drop_name(out, drop)


def vector_vector(ev: "Evaluator", node: BinaryExpr, lhs: InstantVector, rhs: InstantVector) -> InstantVector:
    matching = node.matching or VectorMatching(card="one-to-one")
    if node.op in ("and", "or", "unless"):
        return _set_op(node.op, lhs, rhs, matching)
    return _arith(ev, node, lhs, rhs, matching)


def _sig_ids(lhs: InstantVector, rhs: InstantVector, matching: VectorMatching
             ) -> tuple[np.ndarray, np.ndarray, int]:
    sigs_l = [match_signature(lb, matching.labels, matching.on) for lb in lhs.labels]
    sigs_r = [match_signature(lb, matching.labels, matching.on) for lb in rhs.labels]
    ids, uniq = group_ids(sigs_l + sigs_r)
    return ids[:len(sigs_l)], ids[len(sigs_l):], len(uniq)


def _any_present(ids: np.ndarray, present: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups, present.shape[1]), bool)
    if len(ids):
        np.logical_or.at(out, ids, present)
    return out


def _set_op(op: str, lhs: InstantVector, rhs: InstantVector, matching: VectorMatching) -> InstantVector:
    il, ir, G = _sig_ids(lhs, rhs, matching)
    if op == "and":
        return InstantVector(lhs.labels, lhs.values, lhs.present & _any_present(ir, rhs.present, G)[il],
                             lhs.drop_name).compact()
    if op == "unless":
        return InstantVector(lhs.labels, lhs.values, lhs.present & ~_any_present(ir, rhs.present, G)[il],
                             lhs.drop_name).compact()
    rp = rhs.present & ~_any_present(il, lhs.present, G)[ir]
    out = InstantVector(lhs.labels + rhs.labels, np.concatenate([lhs.values, rhs.values]),
                        np.concatenate([lhs.present, rp]),
                        np.concatenate([lhs.drops(), rhs.drops()]))
    return merge_same_labels(out.compact())


def _one_side_index(ids: np.ndarray, vec: InstantVector, G: int, matching: VectorMatching,
                    side: str) -> np.ndarray:
    """Per (signature, step): the one-side series present there (-1 if none); duplicates fail."""
    T = vec.present.shape[1]
    counts = np.zeros((G, T), np.int64)
    if len(ids):
        np.add.at(counts, ids, vec.present.astype(np.int64))
    if (counts > 1).any():
        g, t = np.argwhere(counts > 1)[0]
        rows = [i for i in np.flatnonzero(ids == g) if vec.present[i, t]]
        first, second = vec.labels[rows[0]], vec.labels[rows[1]]
        shown = match_labels(second, matching.labels, matching.on)
        raise execution_error(
            f"found duplicate series for the match group {format_labels(shown)} on the {side} hand-side "
            f"of the operation: [{format_labels(first)}, {format_labels(second)}];many-to-many matching not "
            "allowed: matching labels must be unique on one side")
    index = np.full((G, T), -1, np.int64)
    rows, steps = np.nonzero(vec.present)
    index[ids[rows], steps] = rows
    return index


def _arith(ev: "Evaluator", node: BinaryExpr, lhs: InstantVector, rhs: InstantVector,
           matching: VectorMatching) -> InstantVector:
    op = node.op
    swap = matching.card == "one-to-many"
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    i_many, i_one, G = _sig_ids(many, one, matching)
    one_idx = _one_side_index(i_one, one, G, matching, "left" if swap else "right")
    T = many.present.shape[1]
    match = one_idx[i_many]                       # [n_many, T]
    matched = many.present & (match >= 0)
    safe = np.where(matched, match, 0)
    one_vals = one.values[safe, np.arange(T)[None, :]] if one.n else np.zeros(match.shape)
    lv, rv = (one_vals, many.values) if swap else (many.values, one_vals)
    res = apply_op(op, lv, rv)
    comparison = op in COMPARISON_OPS
    keep = matched
    if comparison and not node.return_bool:
        keep = matched & (res == 1.0)
        res = lv
    # Output series are (many row, one row) pairs: included labels may differ per one row.
    rows, steps = np.nonzero(keep)
    pair = rows.astype(np.int64) * (one.n + 1) + safe[rows, steps]
    uniq, inv = np.unique(pair, return_inverse=True)
    n_out = len(uniq)
    values = np.zeros((n_out, T))
    present = np.zeros((n_out, T), bool)
    values[inv, steps] = res[rows, steps]
    present[inv, steps] = True
    drop_names = (op in (DROPS_NAME_V2 if ev.v2 else DROPS_NAME_V3) and not comparison) or node.return_bool
    labels: list[dict[str, str]] = []
    pending = np.zeros(n_out, bool)
    many_drops = many.drops()
    for j, p in enumerate(uniq):  # one iteration per output series
        m_row, o_row = divmod(int(p), one.n + 1)
        lb = dict(many.labels[m_row])
        pending[j] = many_drops[m_row]
        if drop_names:
            if ev.v2:
                lb.pop(NAME, None)
            else:
                pending[j] = True
        if matching.card == "one-to-one":
            if matching.on:
                lb = {k: v for k, v in lb.items() if k in matching.labels}
            else:
                for k in matching.labels:
                    lb.pop(k, None)
        for k in matching.include:
            v = one.labels[o_row].get(k, "")
            if v:
                lb[k] = v
            else:
                lb.pop(k, None)
        labels.append(lb)
    if not ev.v2 and comparison and not node.return_bool:
        _check_prefilter(matching, i_many, matched)  # Prometheus 3 checks before filtering
    _check_unique_matches(matching, i_many, uniq // (one.n + 1), labels, present)
    out = InstantVector(labels, values, present, None if ev.v2 else pending)
    return merge_same_labels(out)


def _check_prefilter(matching: VectorMatching, i_many: np.ndarray, matched: np.ndarray) -> None:
    if matching.card != "one-to-one" or len(i_many) < 2:
        return
    counts = np.zeros((int(i_many.max()) + 1, matched.shape[1]), np.int64)
    np.add.at(counts, i_many, matched.astype(np.int64))
    if (counts > 1).any():
        raise execution_error("multiple matches for labels: many-to-one matching must be explicit "
                              "(group_left/group_right)")


def _check_unique_matches(matching: VectorMatching, i_many: np.ndarray, many_rows: np.ndarray,
                          labels: list[dict[str, str]], present: np.ndarray) -> None:
    if len(many_rows) < 2:
        return
    sig = i_many[many_rows]
    if matching.card == "one-to-one":
        ids = sig
        message = "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    else:
        from promql.engine.labels import label_key

        ids, _ = group_ids((int(s), label_key(lb)) for s, lb in zip(sig, labels))
        message = "multiple matches for labels: grouping labels must ensure unique matches"
    counts = np.zeros((int(ids.max()) + 1, present.shape[1]), np.int64)
    np.add.at(counts, ids, present.astype(np.int64))
    if (counts > 1).any():
        raise execution_error(message)
