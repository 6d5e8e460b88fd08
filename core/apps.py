from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _session_settings(sender, connection, **kwargs) -> None:
    """Every database session of the product: no JIT compilation. Its queries are short (a page is a handful of
    index reads), and PostgreSQL compiles a plan once its estimated cost passes jit_above_cost: a week calendar of
    twenty providers (~1,800 rows, each asking whether the viewer may see the patient) spent 60-100 ms compiling
    for a 5 ms query (docs/benchmark.md). A SET rather than a startup option, which connection poolers refuse."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET jit = off")


class CoreConfig(AppConfig):
    """Shared code every app may use (links, prepared querysets, reference data, formatting, middleware).
    Imports no clinical app."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        connection_created.connect(_session_settings, dispatch_uid="core.session_settings")
