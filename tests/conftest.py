"""Shared pytest setup: fixtures any test can use."""

pytest_plugins = ["tests.fixtures.seaweedfs", "tests.fixtures.server", "tests.fixtures.prometheus", "tests.fixtures.etcd"]
