"""Analytics over the bucket: DuckDB views of the SQL contract (`duckdb_connect`)."""
from tsdb.analytics.duckdb import duckdb_connect

__all__ = ["duckdb_connect"]
