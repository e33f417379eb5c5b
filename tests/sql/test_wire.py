"""Flight SQL's result batches on the wire: DataFusion's large batches go out in slices that
every client's gRPC receive limit accepts, all rows in order."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from flight.sql import MAX_MESSAGE_BYTES, _sliced


def test_large_batches_are_sliced_small_ones_pass():
    big = pa.record_batch({"v": np.arange(1_000_000, dtype=np.float64), "s": pa.array(["x" * 8] * 1_000_000)})
    parts = list(_sliced(big))
    assert len(parts) > 1 and all(p.nbytes <= MAX_MESSAGE_BYTES for p in parts)
    assert pa.Table.from_batches(parts).equals(pa.Table.from_batches([big]))
    small = big.slice(0, 10)
    assert list(_sliced(small)) == [small]
