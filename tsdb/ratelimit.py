"""Per-tenant token-bucket rate limiting of ingested samples (Mimir's ingestion_rate)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` stored; starts full."""

    rate: float
    burst: int
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = float(self.burst)

    def allow(self, n: int, now: float) -> bool:
        """Take `n` tokens if available. A request larger than the burst never passes,
        as in Mimir (it could never be admitted whole)."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if n <= self.tokens:
            self.tokens -= n
            return True
        return False


class RateLimiter:
    """One bucket per tenant; limits are re-read on every call so overrides apply live."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, tenant_id: str, n: int, rate: float, burst: int) -> bool:
        now = time.monotonic()
        with self._lock:
            b = self._buckets.get(tenant_id)
            if b is None or b.rate != rate or b.burst != burst:
                b = self._buckets[tenant_id] = TokenBucket(rate, burst, updated=now)
            return b.allow(n, now)
