"""An instance's own ring entry: join, heartbeat, change state, leave."""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import replace
from typing import Callable

from tsdb.config import RingConfig
from tsdb.ring.desc import InstanceDesc, InstanceState, ring_key, ring_prefix
from tsdb.ring.kv import KV, KVUnavailable
from tsdb.ring.tokens import random_tokens

log = logging.getLogger(__name__)


class Lifecycler:
    """A restarting instance keeps its tokens (as Mimir's does), so a restart does not
    move series between ingesters. A failed heartbeat never stops the process: it is
    retried every `poll_period` until the KV store answers again."""

    def __init__(self, kv: KV, ring_name: str, cfg: RingConfig, instance_id: str, addr: str, http_addr: str,
                 flight_addr: str, clock: Callable[[], float] = time.time) -> None:
        self.kv, self.ring_name, self.cfg, self.clock = kv, ring_name, cfg, clock
        self.key = ring_key(cfg.prefix, ring_name, instance_id)
        self._desc = InstanceDesc(instance_id, addr, http_addr, flight_addr, InstanceState.JOINING.value, (), 0, 0)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = False

    @property
    def desc(self) -> InstanceDesc:
        with self._lock:
            return self._desc

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def start(self, state: InstanceState = InstanceState.ACTIVE) -> None:
        tokens: tuple[int, ...] = ()
        registered = self._now_ms()
        try:
            existing = self.kv.get(self.key)
            if existing is not None:
                old = InstanceDesc.from_json(existing)
                tokens, registered = old.tokens, old.registered_ms or registered
            if len(tokens) != self.cfg.num_tokens:
                taken = {t for k, v in self.kv.list_prefix(ring_prefix(self.cfg.prefix, self.ring_name)).items()
                         if k != self.key for t in InstanceDesc.from_json(v).tokens}
                tokens = random_tokens(self.cfg.num_tokens, taken, random.Random())
        except KVUnavailable as e:
            log.warning("ring %s: KV store unavailable at join (%s); joining with new tokens", self.ring_name, e)
            tokens = random_tokens(self.cfg.num_tokens, set(), random.Random())
        with self._lock:
            self._desc = replace(self._desc, tokens=tokens, registered_ms=registered, state=state.value)
        self._heartbeat()
        self._thread = threading.Thread(target=self._loop, name=f"ring-{self.ring_name}-heartbeat", daemon=True)
        self._thread.start()
        self.started = True

    def set_state(self, state: InstanceState) -> None:
        with self._lock:
            self._desc = replace(self._desc, state=state.value)
        self._heartbeat()

    def _heartbeat(self) -> bool:
        with self._lock:
            self._desc = replace(self._desc, heartbeat_ms=self._now_ms())
            data = self._desc.to_json()
        try:
            self.kv.put(self.key, data)
            return True
        except KVUnavailable as e:
            log.warning("ring %s: heartbeat failed, retrying: %s", self.ring_name, e)
            return False

    def _loop(self) -> None:
        ok = True
        while not self._stop.wait((self.cfg.heartbeat_period if ok else self.cfg.poll_period) / 1000):
            ok = self._heartbeat()

    def stop(self, remove: bool = True) -> None:
        """LEAVING, then (with `remove`) delete the entry; best effort if the KV is down."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.started:
            return
        self.set_state(InstanceState.LEAVING)
        if remove:
            try:
                self.kv.delete(self.key)
            except KVUnavailable as e:
                log.warning("ring %s: could not remove %s: %s", self.ring_name, self.key, e)
        self.started = False
