"""One compactor per tenant-day at a time: a lease with an expiry, in the bucket.

Each change of a lease is a new generation-numbered key written with a create-only put,
the same primitive as manifest commits (DESIGN §3): among compactors racing for the next
generation exactly one wins. A lease is free when its newest generation is released or
expired, and only its holder extends it. The expiry bounds how long a compactor that died
holds a day back; a live one renews well before it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import orjson

from tsdb.layout.paths import INTERNAL_PREFIX
from tsdb.storage.bucket import Bucket, ObjectNotFound
from tsdb.tenancy import Tenant

KEEP_GENERATIONS = 4


def _prefix(tenant: Tenant, day: str) -> str:
    return f"{INTERNAL_PREFIX}compactor-leases/{tenant.id}/{day}/"


@dataclass
class Lease:
    bucket: Bucket
    tenant: Tenant
    day: str
    owner: str
    ttl_ms: int
    clock: Callable[[], float] = time.time
    generation: int = field(default=0, init=False)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _newest(self) -> tuple[int, dict | None]:
        prefix = _prefix(self.tenant, self.day)
        gens = sorted(int(o.path[len(prefix):].split(".")[0]) for o in self.bucket.list(prefix)
                      if o.path.endswith(".json"))
        if not gens:
            return 0, None
        try:
            return gens[-1], orjson.loads(self.bucket.get(f"{prefix}{gens[-1]:020d}.json"))
        except ObjectNotFound:
            return gens[-1], None

    def _write(self, generation: int, expires_at_ms: int) -> bool:
        body = orjson.dumps({"owner": self.owner, "expires_at_ms": expires_at_ms})
        return self.bucket.put_if_absent(f"{_prefix(self.tenant, self.day)}{generation:020d}.json", body)

    def acquire(self) -> bool:
        gen, doc = self._newest()
        now = self._now_ms()
        if doc is not None and doc["owner"] != self.owner and doc["expires_at_ms"] > now:
            return False
        if not self._write(gen + 1, now + self.ttl_ms):
            return False  # another compactor took that generation first
        self.generation = gen + 1
        self._trim(gen + 1)
        return True

    def renew(self) -> bool:
        """Extend the lease; False if it was lost (expired and taken by another)."""
        gen, doc = self._newest()
        if gen != self.generation or doc is None or doc["owner"] != self.owner:
            return False
        if not self._write(gen + 1, self._now_ms() + self.ttl_ms):
            return False
        self.generation = gen + 1
        return True

    def held(self) -> bool:
        gen, doc = self._newest()
        return (gen == self.generation and doc is not None and doc["owner"] == self.owner
                and doc["expires_at_ms"] > self._now_ms())

    def release(self) -> None:
        if self.generation and self._write(self.generation + 1, 0):
            self.generation += 1

    def _trim(self, newest: int) -> None:
        if newest % 16:
            return
        prefix = _prefix(self.tenant, self.day)
        old = [f"{prefix}{g:020d}.json" for g in range(max(1, newest - 64), newest - KEEP_GENERATIONS)]
        if old:
            self.bucket.delete_many(old)
