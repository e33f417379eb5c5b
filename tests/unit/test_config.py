from pathlib import Path

import pytest

from tsdb.config import ConfigError, config_from_dict, iter_documented_keys, load_config
from tsdb.tenancy import Tenant

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults():
    cfg = config_from_dict({})
    assert cfg.server.http_port == 9009 and cfg.server.grpc_port == 9095 and cfg.server.flight_port == 8815
    assert cfg.storage.backend == "filesystem"
    assert cfg.storage.filesystem.directory == "data/bucket"
    assert str(cfg.wal_dir) == "data/wal"
    assert cfg.limits.ingestion_rate == 10000 and cfg.limits.out_of_order_time_window == 0
    assert not cfg.multitenancy_enabled


def test_durations_sizes_and_overrides():
    cfg = config_from_dict({
        "data_dir": "/tmp/x",
        "ingester": {"flush_interval": "1h30m", "wal_segment_size": "64MiB"},
        "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 100000},
        "overrides": {"team-a": {"ingestion_rate": 5, "creation_grace_period": "1m"}},
    })
    assert cfg.ingester.flush_interval == 5_400_000
    assert cfg.ingester.wal_segment_size == 64 << 20
    assert cfg.limits.out_of_order_time_window == 100 * 365 * 86_400_000
    a = cfg.limits_for(Tenant("team-a"))
    assert a.ingestion_rate == 5 and a.creation_grace_period == 60_000
    assert a.out_of_order_time_window == cfg.limits.out_of_order_time_window  # inherited
    assert cfg.limits_for(Tenant("other")).ingestion_rate == 100000
    assert cfg.storage.filesystem.directory == "/tmp/x/bucket"


@pytest.mark.parametrize("raw,fragment", [
    ({"ingester": {"flush_intervall": "1h"}}, "unknown key 'ingester.flush_intervall'"),
    ({"nope": 1}, "unknown key 'nope'"),
    ({"limits": {"ingestion_rate": "fast"}}, "invalid value for 'limits.ingestion_rate'"),
    ({"limits": {"out_of_order_time_window": "10 years"}}, "invalid value for 'limits.out_of_order_time_window'"),
    ({"ingester": {"wal_fsync": "sometimes"}}, "invalid value for 'ingester.wal_fsync'"),
    ({"server": {"http_port": 70000}}, "invalid value for 'server.http_port'"),
    ({"storage": {"backend": "ftp"}}, "unknown storage backend 'ftp'"),
    ({"storage": {"backend": "s3"}}, "'storage.s3.bucket' is required"),
    ({"overrides": {"bad/tenant": {"ingestion_rate": 1}}}, "invalid tenant 'bad/tenant'"),
    ({"overrides": {"t": {"max_series": 1}}}, "unknown key 'overrides.t.max_series'"),
    ({"multitenancy_enabled": "yes"}, "invalid value for 'multitenancy_enabled'"),
    ({"promql": {"compat": "v1"}}, "invalid value for 'promql.compat'"),
    ({"promql": {"lookback_delta": "0s"}}, "invalid value for 'promql.lookback_delta'"),
    ({"querier": {"timeout": "0s"}}, "invalid value for 'querier.timeout'"),
    ({"querier": {"max_samples": 0}}, "invalid value for 'querier.max_samples'"),
    ({"querier": {"query_ingester_within": "13h"}}, "unknown key 'querier.query_ingester_within'"),
    ({"distributor": {"ha_tracker_failover_timeout": "10s"}}, "must be longer than ha_tracker_update_timeout"),
    ({"ring": {"kvstore": "consul"}}, "must be one of memory, etcd"),
    ({"ring": {"replication_factor": 0}}, "must be positive"),
    ({"limits": {"max_fetched_series_per_query": -1}}, "invalid value for 'limits.max_fetched_series_per_query'"),
    ({"limits": {"max_total_query_length": "a week"}}, "invalid value for 'limits.max_total_query_length'"),
])
def test_bad_config_names_the_key(raw, fragment):
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw)
    assert fragment in str(e.value)


def test_query_keys():
    cfg = config_from_dict({})
    assert cfg.querier.timeout == 120_000 and cfg.querier.max_samples == 50_000_000
    assert cfg.promql.compat == "v3" and cfg.promql.lookback_delta == 300_000
    assert cfg.limits.max_fetched_series_per_query == 0 and cfg.limits.max_total_query_length == 0
    cfg = config_from_dict({
        "querier": {"timeout": "30s", "max_samples": 1000},
        "promql": {"compat": "v2", "lookback_delta": "1m"},
        "limits": {"max_total_query_length": "32d"},
        "overrides": {"big": {"max_fetched_series_per_query": 10, "max_total_query_length": "1y"}},
    })
    assert cfg.querier.timeout == 30_000 and cfg.querier.max_samples == 1000
    assert cfg.promql.compat == "v2" and cfg.promql.lookback_delta == 60_000
    assert cfg.limits.max_total_query_length == 32 * 86_400_000
    big = cfg.limits_for(Tenant("big"))
    assert big.max_fetched_series_per_query == 10 and big.max_total_query_length == 365 * 86_400_000


def test_flags_override_the_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  http_port: 1234\n  grpc_port: 5555\n")
    cfg = load_config(f, {"server.http_port": 4321})
    assert cfg.server.http_port == 4321 and cfg.server.grpc_port == 5555


def test_invalid_yaml_is_reported(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)


def test_every_key_is_documented_in_the_readme():
    text = README.read_text()
    missing = [k.key for k in iter_documented_keys() if f"`{k.key}`" not in text]
    assert not missing, f"README lacks configuration keys: {missing}"
