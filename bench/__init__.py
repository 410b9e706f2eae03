"""Benchmarks: each prints figures and asserts nothing (see docs/benchmarks.md)."""
