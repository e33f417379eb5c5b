"""MyTSDB: the storage engine and services (config, tenancy, WAL, head, Parquet, manifest, ingester, HTTP API, CLI)."""
