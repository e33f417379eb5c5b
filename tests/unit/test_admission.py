"""The vectorised append rules against a straightforward per-sample reference."""
import random
import struct

import numpy as np

from tsdb import admission as A


def reference(group, ts, bits, state, min_valid, ooo):
    newest = dict(state)  # group -> (ts, bits)
    codes = []
    for g, t, b in zip(group, ts, bits):
        if t < min_valid:
            codes.append(A.TOO_OLD)
            continue
        last = newest.get(g)
        if last is None or t > last[0]:
            newest[g] = (t, b)
            codes.append(A.ACCEPT)
        elif t == last[0]:
            codes.append(A.IGNORE_DUPLICATE if b == last[1] else A.DUPLICATE_TIMESTAMP)
        else:
            codes.append(A.ACCEPT if ooo else A.OUT_OF_ORDER)
    return codes


def test_matches_reference_on_random_pushes():
    rng = random.Random(5)
    for trial in range(400):
        n_groups = rng.randint(1, 6)
        n = rng.randint(1, 40)
        group = np.array(sorted(rng.randrange(n_groups) for _ in range(n)) if rng.random() < 0.5
                         else [rng.randrange(n_groups) for _ in range(n)], np.int64)
        ts = np.array([rng.randint(0, 12) * 1000 for _ in range(n)], np.int64)
        vals = np.array([float(rng.randint(0, 2)) for _ in range(n)])
        bits = vals.view(np.uint64)
        state = {g: (rng.randint(0, 12) * 1000, struct.unpack("<Q", struct.pack("<d", float(rng.randint(0, 2))))[0])
                 for g in range(n_groups) if rng.random() < 0.5}
        smax = np.array([state.get(g, (A.NO_SAMPLE, 0))[0] for g in group], np.int64)
        sbits = np.array([state.get(g, (A.NO_SAMPLE, 0))[1] for g in group], np.uint64)
        min_valid = rng.choice([A.NO_SAMPLE, 2000, 5000])
        ooo = rng.random() < 0.3
        got = A.admit(group, ts, bits, smax, sbits, min_valid, ooo)
        want = reference(group.tolist(), ts.tolist(), bits.tolist(), state, min_valid, ooo)
        assert got.tolist() == want, (trial, group, ts, vals, state, min_valid, ooo)


def test_in_order_fast_path():
    group = np.array([0, 0, 1, 1])
    ts = np.array([1, 2, 1, 2])
    bits = np.zeros(4, np.uint64)
    codes = A.admit(group, ts, bits, np.full(4, A.NO_SAMPLE), np.zeros(4, np.uint64), A.NO_SAMPLE, False)
    assert codes.tolist() == [A.ACCEPT] * 4
