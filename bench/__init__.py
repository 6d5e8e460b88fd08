"""Benchmark at clinic-network scale: synthetic data (seeders/) and measurements (figures.py).

An app of its own with the `seed` and `bench` management commands (bench/management/commands/); see
docs/benchmark.md. Nothing in the product imports it (an import-linter contract in pyproject.toml holds that).
"""
