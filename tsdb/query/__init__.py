"""The storage side of the query path: `StorageSource` (a PromQL `SampleSource` over the
head plus the tenant's Parquet files, with pushdown) and `explain`."""
from tsdb.query.explain import ExplainReport, explain
from tsdb.query.layout import LayoutCache
from tsdb.query.source import SelectTrace, StorageSource

__all__ = ["ExplainReport", "LayoutCache", "SelectTrace", "StorageSource", "explain"]
