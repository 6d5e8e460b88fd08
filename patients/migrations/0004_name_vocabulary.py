# The search's vocabulary (PatientNameVocabulary): every distinct word of the word table, kept by a statement-level
# trigger on patients_patientnameword (one INSERT ... SELECT DISTINCT per statement, so the word table's own
# statement-level fill after a COPY of patients is one statement here too). Then the words already there.
# fuzzystrmatch (trusted, in PostgreSQL's contrib like pg_trgm) gives the search its edit distance.

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import CreateExtension
from django.db import migrations, models


TRIGGER_SQL = """
CREATE FUNCTION patient_vocabulary_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO patients_patientnamevocabulary (word)
  SELECT DISTINCT word FROM new_words ON CONFLICT (word) DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER patient_vocabulary_added AFTER INSERT ON patients_patientnameword
  REFERENCING NEW TABLE AS new_words FOR EACH STATEMENT EXECUTE FUNCTION patient_vocabulary_added();

INSERT INTO patients_patientnamevocabulary (word) SELECT DISTINCT word FROM patients_patientnameword;
ANALYZE patients_patientnamevocabulary;
"""

DROP_SQL = """
DROP TRIGGER patient_vocabulary_added ON patients_patientnameword;
DROP FUNCTION patient_vocabulary_added();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0003_name_words'),
    ]

    operations = [
        CreateExtension("fuzzystrmatch"),  # levenshtein_less_equal: a typo that trigrams miss (cazares ~ caazres)
        migrations.CreateModel(
            name='PatientNameVocabulary',
            fields=[
                ('word', models.TextField(db_collation='C', primary_key=True, serialize=False)),
            ],
            options={
                'indexes': [django.contrib.postgres.indexes.GinIndex(fields=['word'], name='patient_vocabulary_trgm', opclasses=['gin_trgm_ops'])],
            },
        ),
        migrations.RunSQL(TRIGGER_SQL, DROP_SQL),
    ]
