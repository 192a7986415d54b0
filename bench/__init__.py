"""Benchmarks: run by README commands, not by the test suite."""
