"""manage.py import_fhir PATH... : load FHIR R4 bundles (Synthea's transaction bundles, or any collection)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from fhirapi.importing import BundleRefused
from fhirapi.services import bundle_import, import_account


class Command(BaseCommand):
    help = (
        "Import FHIR R4 bundles (files, or folders of *.json). Each bundle is all or nothing; re-importing updates "
        "what the first import created. Resources and elements the product does not model are counted and listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="bundle files or folders")
        parser.add_argument(
            "--source",
            default="import",
            help="name of the sending system (re-imports match on it; default: import)",
        )
        parser.add_argument("--department", help="put new patients in this department")
        parser.add_argument(
            "--care-team",
            action="append",
            default=[],
            metavar="USERNAME",
            help="add this user to the care team of new patients (repeatable)",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USERNAME",
            help="import as this user (needs fhirapi.import_bundle); default: the import account",
        )

    def handle(self, *args, **opts):
        files = self._files(opts["paths"])
        actor = self._actor(opts["as_user"])
        department = self._department(opts["department"])
        User = get_user_model()
        team = []
        for name in opts["care_team"]:
            try:
                team.append(User.objects.get(username=name, is_active=True))
            except User.DoesNotExist:
                raise CommandError(f"No active user {name!r} for --care-team.") from None

        created, updated, not_modelled, dropped = Counter(), Counter(), Counter(), Counter()
        refused, imported, resources = [], 0, 0
        started = time.monotonic()
        bar = tqdm(files, unit="bundle", disable=None, file=sys.stderr)
        for path in bar:
            try:
                bundle = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                refused.append((path, f"not readable as JSON: {exc}"))
                continue
            try:
                result = bundle_import(
                    actor=actor,
                    bundle=bundle,
                    source=opts["source"],
                    department=department,
                    care_team=team,
                    label=path.name,
                )
            except BundleRefused as exc:
                refused.append((path, str(exc)))
                continue
            imported += 1
            resources += result.resources
            created.update(result.created)
            updated.update(result.updated)
            not_modelled.update(result.not_modelled)
            dropped.update(result.dropped_elements)
            for issue in result.issues:
                self.stderr.write(f"{path.name}: {issue['severity']}: {issue['diagnostics']}")
            bar.set_postfix(resources=resources)
        elapsed = max(time.monotonic() - started, 1e-9)

        out = self.stdout.write
        out(
            f"Imported {imported} of {len(files)} bundles: {resources} resources in {elapsed:.1f} s "
            f"({resources / elapsed:.0f} resources/s)."
        )
        if created:
            out("  created: " + ", ".join(f"{k} {v}" for k, v in sorted(created.items())))
        if updated:
            out("  updated: " + ", ".join(f"{k} {v}" for k, v in sorted(updated.items())))
        if not_modelled:
            out(
                "  kept as received (types the product does not model): "
                + ", ".join(f"{k} {v}" for k, v in not_modelled.most_common())
            )
        if dropped:
            out(
                "  elements outside the chart's columns (kept with the resource as received): "
                + ", ".join(f"{k} {v}" for k, v in dropped.most_common())
            )
        for path, reason in refused:
            self.stderr.write(f"REFUSED {path}: {reason}")
        if refused:
            raise CommandError(f"{len(refused)} bundle(s) refused; nothing of them was written.")

    def _files(self, paths: list[str]) -> list[Path]:
        files = []
        for p in map(Path, paths):
            if p.is_dir():
                files += sorted(p.glob("*.json"))
            elif p.is_file():
                files.append(p)
            else:
                raise CommandError(f"{p}: no such file or folder")
        if not files:
            raise CommandError("No bundle files found.")
        return files

    def _actor(self, username: str | None):
        if not username:
            return import_account()
        User = get_user_model()
        try:
            user = User.objects.get(username=username, is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"No active user {username!r}.") from None
        if not user.has_perm("fhirapi.import_bundle"):
            raise CommandError(f"{username} lacks the fhirapi.import_bundle permission.")
        return user

    def _department(self, name: str | None):
        if not name:
            return None
        from patients.models import Department

        try:
            return Department.objects.get(name=name)
        except Department.DoesNotExist:
            raise CommandError(f"No department {name!r}.") from None
