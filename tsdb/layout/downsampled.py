"""The downsampled file layout, shared by the compactor that writes it and the readers.

Rows: one per series and window, at the time of the window's last raw sample; columns
`metric`, `labels`, `series_id`, `timestamp` and the aggregates below (no label is
promoted to a column, so none can collide with an aggregate's name). The sidecar adds each
series' raw `first_value` and `last_value` of the day, which stitch counters across days.
"""
from __future__ import annotations

import pyarrow as pa

from tsdb.layout.writer import SIDECAR_SCHEMA

RES_5M = 300_000
RES_1H = 3_600_000
AGGREGATES = ("count", "sum", "min", "max", "counter")
FIRST_VALUE, LAST_VALUE = "first_value", "last_value"
DOWNSAMPLED_SIDECAR_SCHEMA = SIDECAR_SCHEMA.append(pa.field(FIRST_VALUE, pa.float64())).append(
    pa.field(LAST_VALUE, pa.float64()))
