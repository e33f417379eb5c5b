"""The HTTP API: remote write, the Prometheus read API, and operational endpoints."""
