"""Benchmark at clinic-network scale: synthetic data (seeders.py) and measurements (figures.py).

A plain package used by the `seed` and `bench` management commands (ehr/management/commands/); see
docs/benchmark.md. Nothing here is imported by the product.
"""
