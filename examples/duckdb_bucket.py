"""DuckDB straight over MyTSDB's bucket: the `samples` and `series` views of one tenant.

    python examples/duckdb_bucket.py --data-dir ./data --tenant anonymous [--config mytsdb.yaml]
    (defaults from $MYTSDB_DATA_DIR, $MYTSDB_TENANT and $MYTSDB_CONFIG; with an S3 bucket,
    pass the config file `mytsdb all` runs with: it holds the endpoint and the keys)

The views read the tenant's manifest (its exact file list), so a compaction in progress is
never counted twice. This needs the bucket's credentials and is not a security boundary;
Flight SQL (examples/flightsql_adbc.py) is the tenant-safe way in.
"""
from __future__ import annotations

import argparse
import os

from tsdb.analytics import duckdb_connect


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("MYTSDB_DATA_DIR", "./data"))
    p.add_argument("--config", default=os.environ.get("MYTSDB_CONFIG"))
    p.add_argument("--tenant", default=os.environ.get("MYTSDB_TENANT", "anonymous"))
    a = p.parse_args(argv)
    con = duckdb_connect(a.tenant, a.config, a.data_dir)
    print("samples per metric:")
    con.sql("""SELECT metric, count(*) AS samples, count(DISTINCT series_id) AS series,
                      min("timestamp") AS first, max("timestamp") AS last
               FROM samples GROUP BY metric ORDER BY samples DESC LIMIT 10""").show()
    print("increase per series over the stored range (counters ending in _total; resets ignored):")
    con.sql("""SELECT metric, labels, arg_max(value, "timestamp") - arg_min(value, "timestamp") AS increase
               FROM samples WHERE metric LIKE '%\\_total' ESCAPE '\\'
               GROUP BY metric, labels ORDER BY increase DESC LIMIT 10""").show(max_width=160)
    print("series:")
    con.sql("SELECT metric, labels, samples FROM series ORDER BY samples DESC LIMIT 5").show(max_width=160)


if __name__ == "__main__":
    main()
