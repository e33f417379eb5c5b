"""Compaction: L0 flushes → L1 blocks → one L2 file per tenant-day, deduplicated and
sorted; retention; deletion marks. See README "Compaction"."""
from tsdb.compactor.compactor import Compactor, PassSummary, Progress
from tsdb.compactor.plan import L0, L1, L2, Job

__all__ = ["Compactor", "Job", "L0", "L1", "L2", "PassSummary", "Progress"]
