"""Tokens on the 32-bit ring, and the keys that are looked up on it."""
from __future__ import annotations

import hashlib
import random

import numpy as np

_MASK32 = np.uint64(0xFFFFFFFF)


def random_tokens(n: int, taken: set[int], rng: random.Random) -> tuple[int, ...]:
    """`n` distinct uint32 tokens not in `taken`, sorted."""
    out: set[int] = set()
    while len(out) < n:
        t = rng.getrandbits(32)
        if t not in taken:
            out.add(t)
    return tuple(sorted(out))


def string_token(s: str) -> int:
    """A deterministic uint32 for a string (files, tenants): the same in every process."""
    return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little")


def series_tokens(tenant_id: str, series_ids: np.ndarray) -> np.ndarray:
    """The ring key of each series: its labels hash mixed with the tenant (Mimir shards
    by tenant + labels), through splitmix64's finaliser, folded to 32 bits."""
    seed = np.uint64(int.from_bytes(hashlib.blake2b(tenant_id.encode(), digest_size=8).digest(), "little"))
    with np.errstate(over="ignore"):
        x = np.asarray(series_ids, np.uint64) ^ seed
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return ((x >> np.uint64(32)) ^ (x & _MASK32)).astype(np.uint32)
