"""HA-pair deduplication, as Mimir's HA tracker does it.

Two Prometheus servers scraping the same targets send the same series, told apart by
their `__replica__` external label and grouped by `cluster`. Per (tenant, cluster) one
replica is elected; its samples are kept and the others are answered 202 and dropped. The
elected replica's last push time lives in the KV store (etcd in distributed mode, memory
in `all` mode) under `{ring.prefix}ha-tracker/{tenant}/{cluster}`, as JSON
`{"replica": ..., "received_at_ms": ...}`, written at most every `update_timeout` so that
every distributor agrees. If the elected replica sends nothing for `failover_timeout`,
the next replica that pushes takes over by a compare-and-swap, so that racing
distributors elect one. While the KV store is unreachable, each distributor keeps to
the last election it saw.

Each distributor caches the elections it has read or written. An answer comes from the
cache while it cannot be stale: the elected replica is accepted while the cached
`received_at` is younger than `update_timeout` (older: re-read the KV, refresh the
timestamp); another replica is refused while it is younger than `failover_timeout`
(a failover needs the stored timestamp, never older than the cached one, to be that
old). Otherwise the KV is read, so distributors converge within one push.

As in Mimir, a request is judged by the labels of its first series (a Prometheus sends one
set of external labels), and the replica label is removed from every series before they
are stored (`remove_label`), so both replicas' series are the same series: the series ID
is Prometheus' `labels.Hash()` of what remains, recomputed here vectorised over series.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tsdb.config import Config
from tsdb.remote_write.decode import DecodedWrite, SeriesError
from tsdb.ring.kv import KV, KVUnavailable

log = logging.getLogger(__name__)

_ATTEMPTS = 3  # read-decide-write rounds before judging on the last read (KV contention)


@dataclass(frozen=True)
class Election:
    replica: str
    received_at_ms: int  # the elected replica's last push seen (by any distributor), as stored


@dataclass(frozen=True)
class Verdict:
    accept: bool
    elected: str
    changed: bool = False  # this push elected a (new) replica


class HATracker:
    def __init__(self, kv: KV, prefix: str, update_timeout_ms: int, failover_timeout_ms: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.prefix = f"{prefix}ha-tracker/"
        self.update_timeout_ms = update_timeout_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.clock = clock
        self._cache: dict[tuple[str, str], Election] = {}
        self._lock = threading.Lock()

    def key(self, tenant: str, cluster: str) -> str:
        return f"{self.prefix}{tenant}/{cluster}"

    def cached(self, tenant: str, cluster: str) -> Election | None:
        with self._lock:
            return self._cache.get((tenant, cluster))

    @staticmethod
    def _encode(e: Election) -> bytes:
        return orjson.dumps({"replica": e.replica, "received_at_ms": e.received_at_ms})

    def _read(self, key: str) -> tuple[Election, bytes] | None:
        raw = self.kv.get(key)
        if raw is None:
            return None
        try:
            doc = orjson.loads(raw)
            return Election(str(doc["replica"]), int(doc["received_at_ms"])), raw
        except (ValueError, KeyError, TypeError):
            log.warning("HA tracker: unreadable entry at %s: %r; replacing it", key, raw[:200])
            return Election("", 0), raw  # never matches a replica, long failed over

    def check(self, tenant: str, cluster: str, replica: str) -> Verdict:
        """Whether `replica`'s push for (tenant, cluster) is kept; elects or fails over as needed."""
        now = int(self.clock() * 1000)
        cached = self.cached(tenant, cluster)
        if cached is not None:
            age = now - cached.received_at_ms
            if cached.replica == replica and age < self.update_timeout_ms:
                return Verdict(True, replica)
            if cached.replica != replica and age < self.failover_timeout_ms:
                return Verdict(False, cached.replica)
        try:
            return self._check_kv(tenant, cluster, replica, now)
        except KVUnavailable as e:
            if cached is None:
                # Nothing known: accept rather than lose data (duplicates are merged on read).
                log.warning("HA tracker: KV unreachable and no election known for %s/%s: accepting %s (%s)",
                            tenant, cluster, replica, e)
                return Verdict(True, replica)
            return Verdict(cached.replica == replica, cached.replica)

    def _check_kv(self, tenant: str, cluster: str, replica: str, now: int) -> Verdict:
        key = self.key(tenant, cluster)
        election: Election | None = None
        for _ in range(_ATTEMPTS):
            stored = self._read(key)
            if stored is None:
                fresh = Election(replica, now)
                if self.kv.create(key, self._encode(fresh)):
                    self._remember(tenant, cluster, fresh)
                    return Verdict(True, replica, changed=True)
                continue  # another distributor elected first: read its choice
            election, raw = stored
            age = now - election.received_at_ms
            if election.replica == replica:
                if age < self.update_timeout_ms:
                    self._remember(tenant, cluster, election)
                    return Verdict(True, replica)
                fresh = Election(replica, now)
                if self.kv.compare_and_swap(key, raw, self._encode(fresh)):
                    self._remember(tenant, cluster, fresh)
                    return Verdict(True, replica)
                continue  # refreshed, or failed over, meanwhile: judge again
            if age < self.failover_timeout_ms:
                self._remember(tenant, cluster, election)
                return Verdict(False, election.replica)
            fresh = Election(replica, now)
            if self.kv.compare_and_swap(key, raw, self._encode(fresh)):
                log.info("HA tracker: %s/%s fails over from %r to %r (silent for %d ms)",
                         tenant, cluster, election.replica, replica, age)
                self._remember(tenant, cluster, fresh)
                return Verdict(True, replica, changed=True)
        # Still contended: judge on the last read, write nothing.
        if election is None:
            return Verdict(True, replica)
        return Verdict(election.replica == replica, election.replica)

    def _remember(self, tenant: str, cluster: str, election: Election) -> None:
        with self._lock:
            self._cache[(tenant, cluster)] = election


def ha_tracker(cfg: Config, kv: KV) -> HATracker | None:
    """The tracker when `distributor.ha_tracker_enabled`, over the ring's KV store."""
    d = cfg.distributor
    if not d.ha_tracker_enabled:
        return None
    return HATracker(kv, cfg.ring.prefix, d.ha_tracker_update_timeout, d.ha_tracker_failover_timeout)


# ----------------------------------------------------------------- replica label removal

_SEP = b"\xff"


def remove_label(decoded: DecodedWrite, label: str) -> DecodedWrite:
    """`decoded` without the label `label` on any series, each changed series given the
    series ID of the labels that remain (exactly what decoding them without it gives).

    A series whose validation error is that very label keeps it, so its error message
    still names it (it is rejected either way). `error_label` indices are shifted."""
    names, values = decoded.label_names, decoded.label_values
    n_series = decoded.n_series
    drop = pc.equal(names, label).to_numpy(zero_copy_only=False)
    if not drop.any():
        return decoded
    counts = np.diff(decoded.label_offsets)
    owner = np.repeat(np.arange(n_series), counts)
    position = np.arange(len(drop)) - decoded.label_offsets[owner]  # index within the series
    err_at = decoded.error_label[owner]
    drop &= position != err_at
    if not drop.any():
        return decoded
    dropped_before_error = np.bincount(owner[drop & (position < err_at)], minlength=n_series)
    error_label = (decoded.error_label - dropped_before_error).astype(np.int32)
    changed = np.bincount(owner[drop], minlength=n_series) > 0

    keep = ~drop
    mask = pa.array(keep)
    names, values = names.filter(mask), values.filter(mask)
    offsets = np.zeros(n_series + 1, np.int64)
    np.cumsum(counts - np.bincount(owner[drop], minlength=n_series), out=offsets[1:])

    # Prometheus' labels.Hash() input of a series: name 0xff value 0xff, per label in order.
    hashed = pc.binary_join_element_wise(names.cast(pa.binary()), values.cast(pa.binary()),
                                         pa.scalar(b""), _SEP)
    label_ends = _offsets(hashed)
    data = hashed.buffers()[2]
    buf = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    idx = np.flatnonzero(changed)
    starts = label_ends[offsets[idx]]
    series_id = decoded.series_id.copy()
    series_id[idx] = xxh64_many(buf, starts, label_ends[offsets[idx + 1]] - starts)

    name_offsets, name_data = _offsets(names), _data(names)
    value_offsets, value_data = _offsets(values), _data(values)
    return dataclasses.replace(
        decoded, series_id=series_id, label_offsets=offsets, error_label=error_label,
        label_names=names, label_values=values,
        _name_offsets=name_offsets, _name_data=name_data, _value_offsets=value_offsets, _value_data=value_data)


def enforce_label_count(decoded: DecodedWrite, limit: int) -> DecodedWrite:
    """Flag series with more than `limit` labels (`TOO_MANY_LABELS`), with the decoder's
    precedence: only a missing or invalid metric name outranks it. Used when the request
    was decoded with room for the replica label, which does not count (Mimir removes it
    before validating)."""
    over = np.diff(decoded.label_offsets) > limit
    over &= (decoded.error_code != SeriesError.MISSING_METRIC_NAME) & \
        (decoded.error_code != SeriesError.INVALID_METRIC_NAME)
    over &= decoded.error_code != SeriesError.TOO_MANY_LABELS
    if not over.any():
        return decoded
    error_code = decoded.error_code.copy()
    error_label = decoded.error_label.copy()
    error_code[over] = SeriesError.TOO_MANY_LABELS
    error_label[over] = -1
    return dataclasses.replace(decoded, error_code=error_code, error_label=error_label)


def _offsets(arr: pa.Array) -> np.ndarray:
    """int64 offsets (len + 1) of a string/binary array, relative to its data buffer."""
    return np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, arr.offset * 4).astype(np.int64)


def _data(arr: pa.Array) -> bytes:
    data = arr.buffers()[2]
    return data.to_pybytes() if data is not None else b""


# XXH64 (seed 0), from the xxHash specification, over many inputs at once: the loops run
# over 32-byte stripes and tail words (bounded by the longest input), each step a NumPy
# operation across every input still that long. uint64 arithmetic wraps, as the spec needs.
_P1 = np.uint64(11400714785074694791)
_P2 = np.uint64(14029467366897019727)
_P3 = np.uint64(1609587929392839161)
_P4 = np.uint64(9650029242287828579)
_P5 = np.uint64(2870177450012600261)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    return _rotl(acc + lane * _P2, 31) * _P1


def _merge(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (h ^ _round(np.zeros_like(v), v)) * _P1 + _P4


class _Words:
    """Little-endian words at any byte position of a buffer: two aligned 64-bit reads
    combined by shifts (NumPy defines shifts by 64 as 0), vectorised over positions."""

    def __init__(self, buf: np.ndarray) -> None:
        size = (len(buf) // 8 + 2) * 8  # zero padded: a read's second aligned word may lie past the end
        padded = np.zeros(size, np.uint8)
        padded[:len(buf)] = buf
        self.bytes = padded
        self.aligned = padded.view("<u8")

    def u64_at(self, pos: np.ndarray) -> np.ndarray:
        index = pos >> 3
        bits = ((pos & 7) << 3).astype(np.uint64)
        return (self.aligned[index] >> bits) | (self.aligned[index + 1] << (np.uint64(64) - bits))

    def u32_at(self, pos: np.ndarray) -> np.ndarray:
        return self.u64_at(pos) & np.uint64(0xFFFFFFFF)


def xxh64_many(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """XXH64 (seed 0) of `buf[starts[i]:starts[i] + lengths[i]]` for every i, as uint64."""
    starts = np.asarray(starts, np.int64)
    lengths = np.asarray(lengths, np.int64)
    n = len(starts)
    if n == 0:
        return np.zeros(0, np.uint64)
    words = _Words(np.asarray(buf, np.uint8))
    with np.errstate(over="ignore"):
        h = np.full(n, _P5, np.uint64)
        stripes = lengths // 32
        long_ = np.flatnonzero(stripes > 0)
        if len(long_):
            v = np.zeros((len(long_), 4), np.uint64)
            v[:, 0] = _P1 + _P2
            v[:, 1] = _P2
            v[:, 3] = np.uint64(0) - _P1
            s, base = stripes[long_], starts[long_]
            for k in range(int(s.max())):
                rows = np.flatnonzero(s > k)
                at = base[rows] + 32 * k
                for j in range(4):
                    v[rows, j] = _round(v[rows, j], words.u64_at(at + 8 * j))
            hl = _rotl(v[:, 0], 1) + _rotl(v[:, 1], 7) + _rotl(v[:, 2], 12) + _rotl(v[:, 3], 18)
            for j in range(4):
                hl = _merge(hl, v[:, j])
            h[long_] = hl
        h += lengths.astype(np.uint64)
        pos = starts + stripes * 32
        rest = lengths - stripes * 32
        for _ in range(3):  # 8-byte words
            rows = np.flatnonzero(rest >= 8)
            if not len(rows):
                break
            k1 = _round(np.zeros(len(rows), np.uint64), words.u64_at(pos[rows]))
            h[rows] = _rotl(h[rows] ^ k1, 27) * _P1 + _P4
            pos[rows] += 8
            rest[rows] -= 8
        rows = np.flatnonzero(rest >= 4)  # a 4-byte word
        if len(rows):
            h[rows] = _rotl(h[rows] ^ (words.u32_at(pos[rows]) * _P1), 23) * _P2 + _P3
            pos[rows] += 4
            rest[rows] -= 4
        for _ in range(3):  # single bytes
            rows = np.flatnonzero(rest > 0)
            if not len(rows):
                break
            h[rows] = _rotl(h[rows] ^ (words.bytes[pos[rows]].astype(np.uint64) * _P5), 11) * _P1
            pos[rows] += 1
            rest[rows] -= 1
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    return h
