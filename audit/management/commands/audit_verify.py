from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_verify


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain (access events and write-log entries) and name the first broken link; compare "
        "it with the checkpoints kept outside the database; report events left unlinked longer than "
        "AUDIT_LINK_MAX_LAG_SECONDS. Exit code 1 when anything is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-link",
            action="store_true",
            help="check as stored, without running the linker first (shows a stalled linker)",
        )

    def handle(self, *args, no_link=False, **options):
        result = audit_verify(link_first=not no_link)
        self.stdout.write(
            f"checked {result.checked} events against {result.checkpoints} checkpoints kept outside "
            "the database (AUDIT_ANCHOR_DIR)"
        )
        if result.ok:
            self.stdout.write(self.style.SUCCESS("OK: the audit chain is intact"))
            return
        if result.first_broken_seq is not None or result.first_broken_event is not None:
            self.stdout.write(
                f"first broken link: seq {result.first_broken_seq}, event {result.first_broken_event}"
            )
        if result.unlinked_overdue:
            self.stdout.write(f"unlinked events older than the allowed lag: {result.unlinked_overdue}")
        raise CommandError(f"BROKEN: {result.reason}", returncode=1)
