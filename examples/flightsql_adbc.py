"""SQL over MyTSDB with any Arrow Flight SQL client; here the ADBC driver's DB-API.

    python examples/flightsql_adbc.py --flight grpc://127.0.0.1:8815 --tenant anonymous
    (with `server.flight_sql_tokens` configured: --token TOKEN instead of --tenant; the
    defaults come from $MYTSDB_FLIGHT_URL, $MYTSDB_TENANT and $MYTSDB_FLIGHT_TOKEN)

Tables: `samples` (one row per raw sample, head included) and `series`; the table function
`promql(query, start, end, step)` runs PromQL for the same tenant.
"""
from __future__ import annotations

import argparse
import os
import time

import adbc_driver_flightsql.dbapi as flight_sql


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flight", default=os.environ.get("MYTSDB_FLIGHT_URL", "grpc://127.0.0.1:8815"))
    p.add_argument("--tenant", default=os.environ.get("MYTSDB_TENANT", "anonymous"))
    p.add_argument("--token", default=os.environ.get("MYTSDB_FLIGHT_TOKEN"))
    a = p.parse_args(argv)
    options = ({"adbc.flight.sql.authorization_header": f"Bearer {a.token}"} if a.token
               else {"adbc.flight.sql.rpc.call_header.x-scope-orgid": a.tenant})
    with flight_sql.connect(a.flight, db_kwargs=options) as conn, conn.cursor() as cur:
        print("tables:", [t["table_name"] for c in conn.adbc_get_objects(depth="tables").read_all().to_pylist()
                          for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]])
        print(conn.adbc_get_table_schema("samples"))
        cur.execute("""SELECT metric, count(*) AS samples, count(DISTINCT series_id) AS series,
                              min("timestamp") AS first, max("timestamp") AS last
                       FROM samples GROUP BY metric ORDER BY samples DESC LIMIT 10""")
        top = cur.fetch_arrow_table().to_pandas()
        print(top.to_string())
        cur.execute("SELECT metric, labels, samples FROM series ORDER BY samples DESC LIMIT 5")
        print(cur.fetch_arrow_table().to_pandas().to_string())
        if len(top):  # parameters: `?` (or `$1`, `$2`), bound by the driver on a prepared statement
            cur.execute("SELECT count(*), count(DISTINCT series_id) FROM samples WHERE metric = ?", (top.metric[0],))
            print("{}: {} samples in {} series".format(top.metric[0], *cur.fetchone()))
        end = time.time()
        cur.execute(f"""SELECT metric, count(*) AS points, avg(value) AS mean
                        FROM promql('count by (__name__) ({{__name__=~".+"}})', {end - 3600}, {end}, '5m')
                        GROUP BY metric""")
        print(cur.fetch_arrow_table().to_pandas().to_string())


if __name__ == "__main__":
    main()
