"""ORM querysets compiled to SQL once per process, for pages whose query shapes never change (the chart).

Drawing the chart runs a dozen small queries; the database answers each in well under a millisecond, while Django
spends about as long again turning each queryset into SQL. `Prepared` does that once: it builds the queryset with
sentinel parameter values, compiles it, notes where each sentinel lands among the SQL parameters, and later runs
the same SQL with the caller's values, through the same compiler (select_related, annotations, converters such as
field decryption all work as before) and Django's own model iterable. The queryset stays the one description of
the query; only the compiling is skipped.

    _ACTIVE = Prepared(lambda patient_id: Problem.objects.filter(patient_id=patient_id).order_by("description"),
                       patient_id=SENTINEL_ID)
    rows = _ACTIVE(patient_id=patient.pk)          # a list of Problem instances

Rules: the build function takes only the sentinel parameters (everything else in it must be constant: no
`timezone.now()`, no settings that tests change), returns a model queryset (not values()/values_list()) without
prefetch_related, and each sentinel must appear among the SQL parameters (checked at the first call).
tests/test_prepared.py holds each prepared query in the code to the result of the plain queryset.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from types import SimpleNamespace

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable

# A value no real row holds (UUIDv4 layout, fixed): stands in for a patient's or an encounter's id at compile time.
SENTINEL_ID = uuid.UUID("5e7e1e11-0000-4000-8000-00000000c0de")


class Prepared:
    def __init__(self, build: Callable[..., QuerySet], **sentinels):
        if not sentinels:
            raise ValueError("Prepared needs at least one sentinel parameter")
        self.build = build
        self.sentinels = sentinels
        self._compiled = None
        self._lock = threading.Lock()

    def queryset(self, **values) -> QuerySet:
        """The plain ORM queryset for these values (what the prepared form must answer the same as)."""
        return self.build(**values)

    def _compile(self):
        qs = self.build(**self.sentinels)
        if qs._iterable_class is not ModelIterable or qs._prefetch_related_lookups:
            raise ValueError("Prepared takes a model queryset without values() or prefetch_related()")
        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()  # also sets compiler.select, klass_info, col_count, ...
        slots = {}
        for name, value in self.sentinels.items():
            slots[name] = [i for i, p in enumerate(params) if p == value]
            if not slots[name]:
                raise ValueError(f"the sentinel for {name!r} does not reach the SQL parameters")
        return qs.model, qs.db, compiler, sql, tuple(params), slots

    def __call__(self, **values) -> list:
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._compile()
        model, db, template, sql, base_params, slots = self._compiled
        params = list(base_params)
        for name, positions in slots.items():
            for i in positions:
                params[i] = values[name]
        compiler = copy.copy(template)
        compiler.connection = connections[db]  # this thread's connection, not the compiling thread's
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        # Django's ModelIterable, fed this compiler: instances, select_related objects and annotations as usual.
        source = SimpleNamespace(
            model=model,
            db=db,
            _known_related_objects={},
            query=SimpleNamespace(get_compiler=lambda *args, **kwargs: compiler),
        )
        return list(ModelIterable(source))
