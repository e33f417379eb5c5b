"""Tests of the remote-write decoder (a package so tests share rwtools by relative import)."""
