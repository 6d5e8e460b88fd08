# Actor kinds (core/actors.py): which kind of actor an event records, and for whom. Adding a column with a constant
# default to the partitioned table rewrites no row (PostgreSQL 11+), so the append-only triggers are not involved;
# events recorded before hash as they did (audit.services.event_canonical hashes the new fields only when set).
# actor_kind keeps its database default, so a writer that lists columns (the bench seeder's COPY) need not name it.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_chain_forgery_refused"),
    ]

    operations = [
        migrations.AddField(
            model_name="accessevent",
            name="actor_kind",
            field=models.CharField(blank=True, db_default="", default="", max_length=10),
        ),
        migrations.AddField(
            model_name="accessevent",
            name="on_behalf_of",
            field=models.UUIDField(blank=True, null=True),
        ),
    ]
