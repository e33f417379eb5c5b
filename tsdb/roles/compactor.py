"""`mytsdb compactor`: joins the compactor ring, which shards tenants across compactors.

Compaction itself (levels, dedup, retention, downsampling) is issue 5's work; until it
lands this process only holds its ring entry, so the cluster's shape, flags and ring
pages are already those of the finished system."""
from __future__ import annotations

from tsdb.roles.base import Role


class CompactorRole(Role):
    name = "compactor"
    ring = "compactor"
