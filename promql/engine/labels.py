"""Label-set helpers: ordering keys, name dropping, grouping and matching signatures."""
from __future__ import annotations

from typing import Iterable

import numpy as np

NAME = "__name__"
LabelKey = tuple[tuple[str, str], ...]


def label_key(labels: dict[str, str]) -> LabelKey:
    """Sort key equal to Prometheus' labels.Compare order (name, then value, label by label)."""
    return tuple(sorted(labels.items()))


def drop_name(labels: dict[str, str]) -> dict[str, str]:
    if NAME not in labels:
        return labels
    return {k: v for k, v in labels.items() if k != NAME}


def format_labels(labels: dict[str, str]) -> str:
    """labels.Labels.String(): `{a="1", b="2"}` with Go-quoted values."""
    from promql.strings import go_quote

    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in sorted(labels.items())) + "}"


def group_ids(keys: Iterable[object]) -> tuple[np.ndarray, list[object]]:
    """Dense ids in order of first appearance, and the distinct keys."""
    index: dict[object, int] = {}
    ids = [index.setdefault(k, len(index)) for k in keys]
    return np.array(ids, np.int64), list(index)


def match_signature(labels: dict[str, str], names: tuple[str, ...], on: bool) -> LabelKey:
    """The labels two sides are matched on: `on(names)` or all but `ignoring(names)` and the name."""
    if on:
        return tuple((n, labels.get(n, "")) for n in sorted(set(names)))
    skip = set(names) | {NAME}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in skip))


def match_labels(labels: dict[str, str], names: tuple[str, ...], on: bool) -> dict[str, str]:
    """labels.MatchLabels: the labels shown in duplicate-series errors."""
    if on:
        return {k: v for k, v in labels.items() if k in names}
    skip = set(names) | {NAME}
    return {k: v for k, v in labels.items() if k not in skip}


def grouping_labels(labels: dict[str, str], grouping: tuple[str, ...], without: bool) -> dict[str, str]:
    """The output labels of an aggregation group."""
    if without:
        skip = set(grouping) | {NAME}
        return {k: v for k, v in labels.items() if k not in skip}
    return {k: labels[k] for k in grouping if labels.get(k, "") != ""}
