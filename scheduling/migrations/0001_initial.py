# Scheduling's models move here from `encounters` in place: the tables (db_table "encounters_<model>"), their
# constraints, indexes and triggers stay as encounters' migrations made them. This migration only tells Django's
# state that the models now belong to `scheduling` (encounters 0008 removes them from encounters' state); no table
# is created, renamed or copied. On a database migrated before the move it also relabels the models' content types
# (so their permissions, django-guardian rows and django-auditlog entries follow them) and the labels a patient
# merge recorded for undoing it (patients.PatientMerge.moved).

import django.contrib.postgres.constraints
import django.contrib.postgres.fields.ranges
import django.contrib.postgres.indexes
import django.db.models.deletion
import scheduling.models
import uuid
from django.conf import settings
from django.db import migrations, models



MOVED = [
    "location",
    "room",
    "appointmenttype",
    "workinghours",
    "timeoff",
    "series",
    "appointment",
    "waitlistentry",
    "reminder",
    "providerfeed",
]


def relabel(apps, schema_editor, old="encounters", new="scheduling"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        # Created by the post-migrate signal on a database that never had the old row: keep the old one (its id is
        # what permissions and log entries point at).
        if ContentType.objects.filter(app_label=old, model=model).exists():
            ContentType.objects.filter(app_label=new, model=model).delete()
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)
    PatientMerge = apps.get_model("patients", "PatientMerge")
    for merge in PatientMerge.objects.exclude(moved={}):
        moved = {}
        for key, value in merge.moved.items():  # "<app>.<Model>.<field>" (and one "_revoked_permissions")
            app, _, rest = key.partition(".")
            moved[f"{new}.{rest}" if app == old and rest.split(".")[0].lower() in MOVED else key] = value
        if moved != merge.moved:
            PatientMerge.objects.filter(pk=merge.pk).update(moved=moved)


def unlabel(apps, schema_editor):
    relabel(apps, schema_editor, old="scheduling", new="encounters")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("encounters", "0007_chart_version_triggers"),
        ("patients", "0006_chart_version_bulk_switch"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Location',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('name', models.CharField(max_length=120, unique=True)),
                        ('address', models.CharField(blank=True, max_length=300)),
                    ],
                    options={
                        'db_table': 'encounters_location',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='AppointmentType',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('name', models.CharField(max_length=80, unique=True)),
                        ('duration_minutes', models.PositiveSmallIntegerField(default=20)),
                        ('colour', models.CharField(choices=[('blue', 'Blue'), ('green', 'Green'), ('amber', 'Amber'), ('purple', 'Purple'), ('grey', 'Grey')], default='blue', max_length=10)),
                        ('modality', models.CharField(choices=[('in_person', 'In person'), ('video', 'Video')], default='in_person', max_length=10)),
                        ('encounter_type', models.CharField(default='office', max_length=20)),
                    ],
                    options={
                        'db_table': 'encounters_appointmenttype',
                        'ordering': ['name'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('duration_minutes__gte', 5), ('duration_minutes__lte', 480)), name='appttype_duration_range', violation_error_message='An appointment lasts between 5 minutes and 8 hours.')],
                    },
                ),
                migrations.CreateModel(
                    name='ProviderFeed',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('token_sha256', models.CharField(max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('provider', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'encounters_providerfeed',
                    },
                ),
                migrations.CreateModel(
                    name='Room',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('name', models.CharField(max_length=60)),
                        ('location', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rooms', to='scheduling.location')),
                    ],
                    options={
                        'db_table': 'encounters_room',
                        'ordering': ['location__name', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='Series',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('rrule', models.CharField(help_text='RFC 5545, e.g. FREQ=WEEKLY;COUNT=6', max_length=300)),
                        ('dtstart', models.DateTimeField(help_text='First occurrence; later ones keep its local wall-clock time')),
                        ('materialised_until', models.DateTimeField(blank=True, null=True)),
                        ('fully_materialised', models.BooleanField(default=False)),
                        ('reason', models.CharField(blank=True, max_length=200)),
                        ('override_reason', models.CharField(blank=True, help_text='Why the series may be booked outside working hours or blocks', max_length=200)),
                        ('skipped', models.JSONField(blank=True, default=list)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('appointment_type', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.appointmenttype')),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('location', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.location')),
                        ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='appointment_series', to='patients.patient')),
                        ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('room', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scheduling.room')),
                        ('root', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='parts', to='scheduling.series')),
                    ],
                    options={
                        'verbose_name_plural': 'series',
                        'db_table': 'encounters_series',
                    },
                ),
                migrations.CreateModel(
                    name='Appointment',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('start', models.DateTimeField()),
                        ('end', models.DateTimeField()),
                        ('status', models.CharField(choices=[('scheduled', 'Scheduled'), ('arrived', 'Arrived'), ('checked_in', 'Checked in'), ('in_room', 'In room'), ('with_provider', 'With provider'), ('done', 'Done'), ('cancelled', 'Cancelled'), ('no_show', 'No-show')], default='scheduled', max_length=16)),
                        ('reason', models.CharField(blank=True, max_length=200)),
                        ('cancel_reason', models.CharField(blank=True, max_length=200)),
                        ('occurrence_start', models.DateTimeField(blank=True, null=True)),
                        ('override_reason', models.CharField(blank=True, help_text='Why it was booked outside working hours or in blocked time', max_length=200)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='appointments', to='patients.patient')),
                        ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='appointments', to=settings.AUTH_USER_MODEL)),
                        ('appointment_type', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.appointmenttype')),
                        ('location', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.location')),
                        ('room', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scheduling.room')),
                        ('series', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='appointments', to='scheduling.series')),
                    ],
                    options={
                        'db_table': 'encounters_appointment',
                        'ordering': ['start'],
                        'permissions': [('view_provider_schedule', "Can see providers' calendars"), ('manage_calendar', 'Can manage locations, rooms, appointment types and working hours')],
                    },
                ),
                migrations.CreateModel(
                    name='TimeOff',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('time_off', 'Time off'), ('block', 'Blocked time')], default='time_off', max_length=10)),
                        ('start', models.DateTimeField()),
                        ('end', models.DateTimeField()),
                        ('reason', models.CharField(blank=True, max_length=200)),
                        ('provider', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='time_off', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name_plural': 'time off and blocks',
                        'db_table': 'encounters_timeoff',
                        'ordering': ['start'],
                    },
                ),
                migrations.CreateModel(
                    name='WaitlistEntry',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('earliest', models.DateField()),
                        ('latest', models.DateField()),
                        ('status', models.CharField(choices=[('waiting', 'Waiting'), ('offered', 'Slot offered'), ('booked', 'Booked'), ('removed', 'Removed')], default='waiting', max_length=10)),
                        ('offered_start', models.DateTimeField(blank=True, null=True)),
                        ('offered_end', models.DateTimeField(blank=True, null=True)),
                        ('offered_at', models.DateTimeField(blank=True, null=True)),
                        ('note', models.CharField(blank=True, max_length=200)),
                        ('declined', models.JSONField(blank=True, default=list)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('appointment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scheduling.appointment')),
                        ('appointment_type', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='scheduling.appointmenttype')),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='waitlist_entries', to='patients.patient')),
                        ('provider', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name_plural': 'waitlist entries',
                        'db_table': 'encounters_waitlistentry',
                        'ordering': ['created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='WorkingHours',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('weekday', models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')])),
                        ('start_time', models.TimeField()),
                        ('end_time', models.TimeField()),
                        ('effective_from', models.DateField()),
                        ('effective_to', models.DateField(blank=True, null=True)),
                        ('location', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='scheduling.location')),
                        ('provider', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='working_hours', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name_plural': 'working hours',
                        'db_table': 'encounters_workinghours',
                        'ordering': ['provider', 'weekday', 'start_time'],
                    },
                ),
                migrations.CreateModel(
                    name='Reminder',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('channel', models.CharField(choices=[('email', 'Email'), ('sms', 'SMS')], max_length=8)),
                        ('due_at', models.DateTimeField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('skipped', 'Skipped'), ('failed', 'Failed')], default='pending', max_length=8)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('detail', models.CharField(blank=True, max_length=200)),
                        ('appointment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reminders', to='scheduling.appointment')),
                        ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='patients.patient')),
                    ],
                    options={
                        'db_table': 'encounters_reminder',
                        'indexes': [models.Index(fields=['status', 'due_at'], name='reminder_due')],
                        'constraints': [models.UniqueConstraint(fields=('appointment', 'channel'), name='reminder_unique_channel', violation_error_message='That reminder is already planned.')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='room',
                    constraint=models.UniqueConstraint(fields=('location', 'name'), name='room_unique_name', violation_error_message='This location already has a room of that name.'),
                ),
                migrations.AddIndex(
                    model_name='appointment',
                    index=models.Index(fields=['provider', 'start'], name='appt_provider_start'),
                ),
                migrations.AddIndex(
                    model_name='appointment',
                    index=models.Index(fields=['patient', 'start'], name='appt_patient_start'),
                ),
                migrations.AddIndex(
                    model_name='appointment',
                    index=django.contrib.postgres.indexes.GistIndex(scheduling.models.TsTzRange('start', 'end', django.contrib.postgres.fields.ranges.RangeBoundary()), name='appt_span'),
                ),
                migrations.AddConstraint(
                    model_name='appointment',
                    constraint=models.CheckConstraint(condition=models.Q(('end__gt', models.F('start'))), name='appt_end_after_start', violation_error_message='The end must be after the start.'),
                ),
                migrations.AddConstraint(
                    model_name='appointment',
                    constraint=django.contrib.postgres.constraints.ExclusionConstraint(condition=models.Q(('status__in', ('cancelled', 'no_show')), _negated=True), expressions=[('provider', '='), (scheduling.models.TsTzRange('start', 'end', django.contrib.postgres.fields.ranges.RangeBoundary()), '&&')], name='appt_no_provider_double_booking', violation_error_message='The provider already has an appointment at that time.'),
                ),
                migrations.AddConstraint(
                    model_name='appointment',
                    constraint=django.contrib.postgres.constraints.ExclusionConstraint(condition=models.Q(('room__isnull', False), models.Q(('status__in', ('cancelled', 'no_show')), _negated=True)), expressions=[('room', '='), (scheduling.models.TsTzRange('start', 'end', django.contrib.postgres.fields.ranges.RangeBoundary()), '&&')], name='appt_no_room_double_booking', violation_error_message='The room is already booked at that time.'),
                ),
                migrations.AddConstraint(
                    model_name='appointment',
                    constraint=models.UniqueConstraint(condition=models.Q(('series__isnull', False)), fields=('series', 'occurrence_start'), name='appt_unique_occurrence', violation_error_message='That occurrence of the series already exists.'),
                ),
                migrations.AddConstraint(
                    model_name='timeoff',
                    constraint=models.CheckConstraint(condition=models.Q(('end__gt', models.F('start'))), name='timeoff_end_after_start', violation_error_message='The end of the time off must be after its start.'),
                ),
                migrations.AddIndex(
                    model_name='waitlistentry',
                    index=models.Index(fields=['provider', 'status', 'created_at'], name='waitlist_match'),
                ),
                migrations.AddConstraint(
                    model_name='waitlistentry',
                    constraint=models.CheckConstraint(condition=models.Q(('latest__gte', models.F('earliest'))), name='waitlist_range_order', violation_error_message='The latest date must not be before the earliest date.'),
                ),
                migrations.AddConstraint(
                    model_name='workinghours',
                    constraint=models.CheckConstraint(condition=models.Q(('end_time__gt', models.F('start_time'))), name='wh_end_after_start', violation_error_message='The end of the working hours must be after their start.'),
                ),
                migrations.AddConstraint(
                    model_name='workinghours',
                    constraint=models.CheckConstraint(condition=models.Q(('effective_to__isnull', True), ('effective_to__gte', models.F('effective_from')), _connector='OR'), name='wh_effective_order', violation_error_message='“Effective to” must not be before “effective from”.'),
                ),
                migrations.AddConstraint(
                    model_name='workinghours',
                    constraint=django.contrib.postgres.constraints.ExclusionConstraint(expressions=[('provider', '='), ('weekday', '='), (scheduling.models.DateRangeFn('effective_from', 'effective_to', django.contrib.postgres.fields.ranges.RangeBoundary(inclusive_upper=True)), '&&'), (scheduling.models.TimeOfDayRange('start_time', 'end_time'), '&&')], name='wh_no_overlap', violation_error_message='These working hours overlap hours already set for this provider on that weekday and dates. Change or end the existing row instead.'),
                ),
            ],
        ),
        migrations.RunPython(relabel, unlabel),
    ]
