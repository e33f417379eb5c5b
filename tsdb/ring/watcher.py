"""A process's view of a ring, re-read from the KV store every `poll_period`.

While the store is unreachable the last ring is kept and health is not re-judged from
aging heartbeats (DESIGN §6): `judged_at_ms` stays at the last successful read. Once
the store is back, instances need up to a heartbeat period to refresh their entries,
so for a grace period after recovery (`heartbeat_period + poll_period`, plus two KV
timeouts for a heartbeat that was stuck in a call when the store came back) the
outage's length is taken off the judging time: no instance flaps to unhealthy because
the store was down.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from tsdb.config import RingConfig
from tsdb.ring.desc import InstanceDesc, ring_prefix
from tsdb.ring.kv import KV, KVUnavailable
from tsdb.ring.ring import Ring

log = logging.getLogger(__name__)


class RingWatcher:
    def __init__(self, kv: KV, ring_name: str, cfg: RingConfig, clock: Callable[[], float] = time.time) -> None:
        self.kv, self.ring_name, self.cfg, self.clock = kv, ring_name, cfg, clock
        self._ring = Ring(ring_name, (), 0, cfg.heartbeat_timeout)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.kv_reachable = False
        self._last_ok_ms: int | None = None
        self._outage_ms = 0        # length of the last outage
        self._recovered_ms = 0     # when the store answered again

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name=f"ring-{self.ring_name}-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def ring(self) -> Ring:
        with self._lock:
            return self._ring

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.poll_period / 1000):
            self.refresh()

    def refresh(self) -> bool:
        now = int(self.clock() * 1000)
        try:
            entries = self.kv.list_prefix(ring_prefix(self.cfg.prefix, self.ring_name))
        except KVUnavailable as e:
            if self.kv_reachable:
                log.warning("ring %s: KV store unreachable, keeping the last ring: %s", self.ring_name, e)
            self.kv_reachable = False
            return False
        if not self.kv_reachable and self._last_ok_ms is not None:
            self._outage_ms = now - self._last_ok_ms
            self._recovered_ms = now
            log.info("ring %s: KV store reachable again after %.0fs", self.ring_name, self._outage_ms / 1000)
        self.kv_reachable = True
        self._last_ok_ms = now
        judged = now
        grace = self.cfg.heartbeat_period + self.cfg.poll_period + 2 * self.cfg.etcd_dial_timeout
        if now - self._recovered_ms < grace:
            judged = now - self._outage_ms
        instances = []
        for key, value in entries.items():
            try:
                instances.append(InstanceDesc.from_json(value))
            except (ValueError, TypeError, KeyError) as e:
                log.warning("ring %s: skipping undecodable entry %s: %s", self.ring_name, key, e)
        ring = Ring(self.ring_name, tuple(sorted(instances, key=lambda i: i.id)), judged, self.cfg.heartbeat_timeout)
        with self._lock:
            self._ring = ring
        return True

    def wait_until(self, predicate: Callable[[Ring], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.ring()):
                return True
            time.sleep(min(0.05, self.cfg.poll_period / 1000))
        return predicate(self.ring())
