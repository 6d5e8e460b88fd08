"""Identifiers and contacts are ciphertext at rest; blind indexes find them; key rotation rewrites every row."""

import base64
import os

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from patients import crypto
from patients.models import Patient
from patients.selectors import patient_search
from patients.services import encrypted_models
from tests.factories import make_patient

pytestmark = pytest.mark.django_db

ENCRYPTED = ["ssn", "drivers_license", "phones", "email", "addresses", "emergency_contacts"]


@pytest.fixture(autouse=True)
def _fresh_keys():
    crypto.reset_key_cache()
    yield
    crypto.reset_key_cache()


@pytest.fixture
def full_patient(department):
    return make_patient(
        department=department,
        ssn="321-54-9876",
        drivers_license="D1234567",
        email="jdoe@example.test",
        phones=[{"use": "mobile", "value": "(555) 222-3333"}],
        addresses=[
            {
                "use": "home",
                "line": "12 Elm Street",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62704",
            }
        ],
        emergency_contacts=[{"name": "Pat Doe", "relationship": "spouse", "phone": "555-444-5555"}],
    )


def raw_row(pk) -> dict:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {', '.join(ENCRYPTED)} FROM patients_patient WHERE id = %s", [pk])
        return dict(zip(ENCRYPTED, cur.fetchone(), strict=True))


def test_no_plaintext_at_rest(full_patient):
    raw = raw_row(full_patient.pk)
    text = " ".join(v for v in raw.values() if v)
    for secret in [
        "321-54-9876",
        "321549876",
        "D1234567",
        "jdoe@example.test",
        "222-3333",
        "2223333",
        "Elm Street",
        "Springfield",
        "62704",
        "Pat Doe",
        "555-444-5555",
    ]:
        assert secret not in text
    assert all(v.startswith("v1:") for v in raw.values())
    # ... and the model reads the plaintext back.
    p = Patient.objects.get(pk=full_patient.pk)
    assert p.ssn == "321-54-9876" and p.addresses[0]["city"] == "Springfield"


def test_ciphertext_is_bound_to_its_column(full_patient):
    raw = raw_row(full_patient.pk)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(raw["ssn"], context="email")


def test_blind_index_search_by_phone(clinician, full_patient):
    from patients.services import care_team_grant

    care_team_grant(patient=full_patient, user=clinician, care_role="PCP")
    for q in ["(555) 222-3333", "555-222-3333", "+1 555 222 3333"]:
        rows, _ = patient_search(actor=clinician, q=q)
        assert [p.pk for p in rows] == [full_patient.pk], q
    with connection.cursor() as cur:
        cur.execute(
            "SELECT phone_bidx::text, ssn_bidx FROM patients_patient WHERE id = %s", [full_patient.pk]
        )
        bidx = " ".join(cur.fetchone())
    assert "2223333" not in bidx and "549876" not in bidx


def test_encrypted_fields_are_discovered_generically():
    found = {model._meta.label: fields for model, fields in encrypted_models()}
    assert set(found["patients.Patient"]) == set(ENCRYPTED)
    for model, fields in encrypted_models():
        for name in fields:
            assert isinstance(
                model._meta.get_field(name), crypto.EncryptedTextField | crypto.EncryptedJSONField
            )


def test_rotate_keys_reencrypts_every_row(full_patient, patient, other_patient, capsys):
    old = settings.FIELD_ENCRYPTION_KEYS
    new = base64.urlsafe_b64encode(os.urandom(32)).decode()
    before = {p: raw_row(p) for p in (full_patient.pk, patient.pk, other_patient.pk)}
    with override_settings(FIELD_ENCRYPTION_KEYS=f"2:{new},{old}"):
        crypto.reset_key_cache()
        call_command("rotate_keys", "--batch", "2")
        out = capsys.readouterr().out
        total = sum(Patient.objects.count() for _ in [0])
        assert f"patients.Patient: {total} rows re-encrypted" in out
        for pk, old_raw in before.items():
            raw = raw_row(pk)
            for col, value in raw.items():
                if value:
                    assert value.startswith("v2:"), (col, value[:4])
                    assert value != old_raw[col]
        assert set(Patient.objects.values_list("key_version", flat=True)) == {2}
    # Only the new key is left: everything still reads.
    with override_settings(FIELD_ENCRYPTION_KEYS=f"2:{new}"):
        crypto.reset_key_cache()
        p = Patient.objects.get(pk=full_patient.pk)
        assert p.ssn == "321-54-9876" and p.phones[0]["value"] == "(555) 222-3333"
        assert p.emergency_contacts[0]["name"] == "Pat Doe"
        assert len(list(Patient.objects.all())) == total
        # Blind indexes do not depend on the encryption key: search keeps working.
        assert Patient.objects.filter(ssn_bidx=crypto.blind_index("ssn", "321549876")).count() == 1


# ------------------------------------------------------------------ nothing in plaintext anywhere, audit included
SECRETS = [
    "321-54-9876",
    "321549876",
    "D1234567",
    "jdoe@example.test",
    "555-0133",
    "5550133",
    "Elm Street",
    "Springfield",
    "62704",
    "Pat Doe",
    "617-555-0144",
    "6175550144",
    "Mesa Road",
    "Window Rock",
    "86515",
    "555-0188",
    "5550188",
    "Oak Avenue",
]


def tables_containing(text: str) -> list[str]:
    """Every table of the database whose rows, as text, contain `text` (the audit tables included).

    An all-digit secret (a ZIP code, a bare phone number) counts only as a whole token: "62704" inside a timestamp's
    microseconds ("...27.062704") or inside a hex digest or base64 ciphertext is not the plaintext."""
    if text.isdigit():
        condition, param = "t::text ~ %s", f"(^|[^0-9A-Za-z+/=]){text}([^0-9A-Za-z+/=]|$)"
    else:
        condition, param = "t::text ILIKE %s", f"%{text}%"
    found = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(include_views=False):
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}" t WHERE {condition})', [param])
            if cur.fetchone()[0]:
                found.append(table)
    return found


def test_no_plaintext_in_any_table_after_register_and_edit(login, front_desk):
    from django.urls import reverse

    from audit.services import audit_link_chain

    client = login(front_desk)
    resp = client.post(
        reverse("patients:register"),
        {
            "given_name": "Jane",
            "family_name": "Doe",
            "birth_date": "1980-04-05",
            "sex_at_birth": "F",
            "preferred_language": "en",
            "ssn": "321-54-9876",
            "drivers_license": "D1234567",
            "email": "jdoe@example.test",
            "phone_mobile": "(312) 555-0133",
            "address_line": "12 Elm Street",
            "address_city": "Springfield",
            "address_state": "IL",
            "address_postal": "62704",
            "prev_address_line": "4 Mesa Road",
            "prev_address_city": "Window Rock",
            "prev_address_state": "AZ",
            "prev_address_postal": "86515",
            "emergency_name": "Pat Doe",
            "emergency_relationship": "spouse",
            "emergency_phone": "617-555-0144",
            "sexual_orientation": "42035005",
        },
    )
    assert resp.status_code == 302
    p = Patient.objects.get(family_name="Doe")
    form = client.get(reverse("patients:edit", args=[p.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v not in (None, [])}
    data.update(phone_home="713-555-0188", address_line="7 Oak Avenue", sexual_orientation="20430005")
    assert client.post(reverse("patients:edit", args=[p.pk]), data).status_code == 302
    audit_link_chain()

    from auditlog.models import LogEntry

    entries = LogEntry.objects.filter(object_pk=str(p.pk))
    assert entries.count() == 2
    for entry in entries:
        for field in (
            "ssn",
            "phones",
            "addresses",
            "email",
            "emergency_contacts",
            "drivers_license",
            "sexual_orientation",
        ):
            if field in entry.changes:
                assert set(entry.changes[field]) <= {"[masked]", "None"}, (field, entry.changes[field])
    leaks = {secret: tables_containing(secret) for secret in SECRETS}
    assert not {s: t for s, t in leaks.items() if t}, leaks
    # Sexual orientation is stored as a code in the patient row only, never in the write log or the events.
    assert set(tables_containing("42035005")) <= {"patients_patient"}


def test_masking_keeps_nothing_of_the_value_for_every_app():
    from auditlog.diff import get_mask_function

    mask = get_mask_function()  # what any app's mask_fields get, without a mask_callable of their own
    assert mask("123-45-6789") == "[masked]" and mask("None") == "None"
