"""HA-pair deduplication, as Mimir's HA tracker does it.

Two Prometheus servers scraping the same targets send the same series, told apart by
their `__replica__` external label and grouped by `cluster`. Per (tenant, cluster) one
replica is elected; its samples are kept and the others are answered 202 and dropped. The
elected replica's last push time lives in the KV store (etcd in distributed mode), written
at most every `update_timeout`, so that every distributor agrees. If the elected replica
sends nothing for `failover_timeout`, the next replica that pushes takes over, by a
compare-and-swap, so that racing distributors elect one. While the KV store is unreachable,
each distributor keeps to the last election it saw.

As in Mimir, a request is judged by the labels of its first series (a Prometheus sends one
set of external labels), and the replica label is removed from every series before they
are stored, so both replicas' series are the same series.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import orjson

from tsdb.config import Config
from tsdb.ring.kv import KV, KVUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Election:
    replica: str
    received_at_ms: int  # the elected replica's last push seen (by anyone), as stored


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
        self._cache: dict[tuple[str, str], tuple[Election, int]] = {}  # -> (election, when read or written)
        self._lock = threading.Lock()

    def _key(self, tenant: str, cluster: str) -> str:
        return f"{self.prefix}{tenant}/{cluster}"

    @staticmethod
    def _encode(e: Election) -> bytes:
        return orjson.dumps({"replica": e.replica, "received_at_ms": e.received_at_ms})

    def _read(self, key: str) -> tuple[Election, bytes] | None:
        raw = self.kv.get(key)
        if raw is None:
            return None
        doc = orjson.loads(raw)
        return Election(doc["replica"], doc["received_at_ms"]), raw

    def check(self, tenant: str, cluster: str, replica: str) -> Verdict:
        now = int(self.clock() * 1000)
        with self._lock:
            cached = self._cache.get((tenant, cluster))
        try:
            return self._check(tenant, cluster, replica, now, cached)
        except KVUnavailable as e:
            if cached is None:
                # Nothing known: accept rather than lose data (duplicates are merged on read).
                log.warning("HA tracker: KV unreachable and no election known for %s/%s: accepting (%s)",
                            tenant, cluster, e)
                return Verdict(True, replica)
            elected = cached[0].replica
            return Verdict(elected == replica, elected)

    def _check(self, tenant: str, cluster: str, replica: str, now: int,
               cached: tuple[Election, int] | None) -> Verdict:
        if cached is not None:  # answer from memory while the election is recent enough
            election, seen = cached
            if election.replica == replica and now - seen < self.update_timeout_ms:
                return Verdict(True, replica)
            if election.replica != replica and now - election.received_at_ms <= self.failover_timeout_ms:
                return Verdict(False, election.replica)
        key = self._key(tenant, cluster)
        stored = self._read(key)
        if stored is None:
            fresh = Election(replica, now)
            if self.kv.create(key, self._encode(fresh)):
                self._remember(tenant, cluster, fresh, now)
                return Verdict(True, replica, changed=True)
            stored = self._read(key)
            if stored is None:  # deleted in between: judged again on the next push
                return Verdict(True, replica)
        election, raw = stored
        if election.replica == replica:
            if now - election.received_at_ms >= self.update_timeout_ms:
                fresh = Election(replica, now)
                if self.kv.compare_and_swap(key, raw, self._encode(fresh)):
                    election = fresh
            self._remember(tenant, cluster, election, now)
            return Verdict(True, replica)
        if now - election.received_at_ms > self.failover_timeout_ms:
            fresh = Election(replica, now)
            if self.kv.compare_and_swap(key, raw, self._encode(fresh)):
                log.info("HA tracker: %s/%s fails over from %s to %s", tenant, cluster, election.replica, replica)
                self._remember(tenant, cluster, fresh, now)
                return Verdict(True, replica, changed=True)
            stored = self._read(key)  # another distributor changed it first
            if stored is not None:
                election = stored[0]
        self._remember(tenant, cluster, election, now)
        return Verdict(election.replica == replica, election.replica)

    def _remember(self, tenant: str, cluster: str, election: Election, seen_ms: int) -> None:
        with self._lock:
            self._cache[(tenant, cluster)] = (election, seen_ms)


def ha_tracker(cfg: Config, kv: KV) -> HATracker | None:
    """The tracker when `distributor.ha_tracker_enabled`, over the ring's KV store."""
    d = cfg.distributor
    if not d.ha_tracker_enabled:
        return None
    return HATracker(kv, cfg.ring.prefix, d.ha_tracker_update_timeout, d.ha_tracker_failover_timeout)
