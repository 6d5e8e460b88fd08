"""Staff status follows the roles from now on (accounts.services.staff_status_sync): derive it for existing accounts.

A nurse someone had ticked "staff" loses it; a practice admin nobody ticked gains it.
"""

from django.db import migrations
from django.db.models import Q


def derive_staff_status(apps, schema_editor):
    User = apps.get_model("auth", "User")
    # An inner join (see accounts.services.staff_status_sync): no NULL for NOT IN to trip over.
    staff = Q(is_superuser=True) | Q(pk__in=User.objects.filter(groups__name="practice_admin").values("pk"))
    User.objects.filter(staff, is_staff=False).update(is_staff=True)
    User.objects.exclude(staff).filter(is_staff=True).update(is_staff=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_practitioner_readable_errors"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(derive_staff_status, migrations.RunPython.noop)]
