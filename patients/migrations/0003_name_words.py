# The search's word table (PatientNameWord), kept from patients_patient.name_search by triggers: a statement-level
# one for inserts (one INSERT ... SELECT per statement, so a COPY of a million patients is one statement too) and a
# row-level one for updates that change a name. Then the rows of the patients already there.

import django.db.models.deletion
from django.db import migrations, models


WORDS_OF = """
  SELECT DISTINCT p.id, w.word, p.family_name, p.given_name
  FROM {source} p CROSS JOIN LATERAL regexp_split_to_table(p.name_search, ' ') AS w(word)
  WHERE w.word <> ''
"""

TRIGGERS_SQL = f"""
CREATE FUNCTION patient_name_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO patients_patientnameword (patient_id, word, family_name, given_name)
  {WORDS_OF.format(source="new_patients")};
  RETURN NULL;
END $$;
CREATE TRIGGER patient_name_words_inserted AFTER INSERT ON patients_patient
  REFERENCING NEW TABLE AS new_patients FOR EACH STATEMENT EXECUTE FUNCTION patient_name_words_inserted();

CREATE FUNCTION patient_name_words_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM patients_patientnameword WHERE patient_id = NEW.id;
  INSERT INTO patients_patientnameword (patient_id, word, family_name, given_name)
  SELECT DISTINCT NEW.id, w.word, NEW.family_name, NEW.given_name
  FROM regexp_split_to_table(NEW.name_search, ' ') AS w(word) WHERE w.word <> '';
  RETURN NULL;
END $$;
CREATE TRIGGER patient_name_words_changed AFTER UPDATE OF name_search, family_name, given_name ON patients_patient
  FOR EACH ROW WHEN (OLD.name_search IS DISTINCT FROM NEW.name_search
                     OR OLD.family_name IS DISTINCT FROM NEW.family_name
                     OR OLD.given_name IS DISTINCT FROM NEW.given_name)
  EXECUTE FUNCTION patient_name_words_changed();

INSERT INTO patients_patientnameword (patient_id, word, family_name, given_name)
{WORDS_OF.format(source="patients_patient")};
ANALYZE patients_patientnameword;
"""

DROP_SQL = """
DROP TRIGGER patient_name_words_changed ON patients_patient;
DROP FUNCTION patient_name_words_changed();
DROP TRIGGER patient_name_words_inserted ON patients_patient;
DROP FUNCTION patient_name_words_inserted();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0002_uscdi_v3_demographics_licence_index_wider_mrn'),
    ]

    operations = [
        migrations.CreateModel(
            name='PatientNameWord',
            fields=[
                ('pk', models.CompositePrimaryKey('patient_id', 'word', blank=True, editable=False, primary_key=True, serialize=False)),
                ('word', models.TextField(db_collation='C')),
                ('family_name', models.CharField(max_length=100)),
                ('given_name', models.CharField(max_length=100)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='name_words', to='patients.patient')),
            ],
            options={
                'indexes': [models.Index(fields=['word', 'family_name', 'given_name', 'patient'], name='patient_name_word_order')],
            },
        ),
        migrations.RunSQL(TRIGGERS_SQL, DROP_SQL),
    ]
