"""MyTSDB benchmarks against a real Prometheus: ingest, size on disk, head memory (`python -m bench.run`)."""
