from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark: synthetic data (`manage.py seed`) and the measurements (`manage.py bench`, which
    `python3 dev.py bench` runs on its own database). It stands above every app and nothing in the product imports
    it (pyproject.toml, `[tool.importlinter]`)."""

    name = "bench"
    verbose_name = "Benchmark"
