"""Insurance at registration and check-in (issue 17 item 7; billing builds on it): saved through the door with an
audit trail, card photos checked by content, encrypted at rest, shown only through the door, nothing half-saved."""

import io
import os

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from audit.models import AccessEvent
from patients import cards
from patients.models import Coverage, Payer

pytestmark = pytest.mark.django_db


def image_bytes(fmt="JPEG", size=(60, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def upload(data: bytes, name="card.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def payer(db):
    return Payer.objects.create(name="Aetna", payer_id="60054")


def url(patient):
    return reverse("patients:insurance", args=[patient.pk])


def cov_data(payer, **kw):
    data = {
        "payer": payer.pk,
        "order": "1",
        "member_id": "W123456789",
        "group_number": "55001",
        "relationship": "self",
    }
    data.update(kw)
    return data


def stored_card_files():
    try:
        return set(default_storage.listdir(cards.FOLDER)[1])
    except FileNotFoundError:
        return set()


def test_front_desk_adds_primary_with_card_photos_audited_and_encrypted(login, front_desk, patient, payer):
    client = login(front_desk)
    front, back = image_bytes("JPEG"), image_bytes("PNG")
    resp = client.post(
        url(patient),
        {**cov_data(payer), "card_front": upload(front), "card_back": upload(back, "back.png", "image/png")},
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    cov = Coverage.objects.get(patient=patient)
    assert (cov.order, cov.member_id, cov.group_number, cov.payer, cov.created_by) == (
        1, "W123456789", "55001", payer, front_desk,
    )  # fmt: skip
    # The write is in the audit trail, the member id masked in the write log.
    ev = AccessEvent.objects.get(category="insurance", action="create", patient_id=patient.pk)
    assert ev.actor == front_desk and ev.channel == "write"
    from auditlog.models import LogEntry

    entry = LogEntry.objects.get(object_pk=str(cov.pk))
    assert "W123456789" not in str(entry.changes)
    # Encrypted at rest: neither the member id nor the photo's bytes are stored in the clear.
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT member_id FROM patients_coverage")
        assert "W123456789" not in cur.fetchone()[0]
    with default_storage.open(cov.card_front, "rb") as fh:
        raw = fh.read()
    assert front[:64] not in raw and not raw.startswith(b"\xff\xd8")
    # Shown only through the door, an access event per view.
    before = AccessEvent.objects.filter(category="insurance card").count()
    resp = client.get(reverse("patients:insurance_card", args=[patient.pk, cov.pk, "front"]))
    assert resp.status_code == 200 and resp["Content-Type"] == "image/jpeg" and resp.content == front
    assert "no-store" in resp["Cache-Control"]
    assert resp2_png(client, patient, cov) == back
    assert AccessEvent.objects.filter(category="insurance card", patient_id=patient.pk).count() == before + 2
    # And on the chart summary.
    body = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert 'data-testid="chart-insurance"' in body and "Aetna" in body and "W123456789" in body


def resp2_png(client, patient, cov):
    resp = client.get(reverse("patients:insurance_card", args=[patient.pk, cov.pk, "back"]))
    assert resp["Content-Type"] == "image/png"
    return resp.content


def test_subscriber_other_than_the_patient_needs_name_and_date_of_birth(login, front_desk, patient, payer):
    client = login(front_desk)
    resp = client.post(url(patient), cov_data(payer, relationship="child"))
    assert resp.status_code == 200 and not Coverage.objects.exists()
    body = resp.content.decode()
    assert "Enter the subscriber&#x27;s name" in body and "Enter the subscriber&#x27;s date of birth" in body
    resp = client.post(
        url(patient),
        cov_data(payer, relationship="child", subscriber_name="R2 D2", subscriber_birth_date="1980-02-30"),
    )
    body = resp.content.decode()
    assert "letters, spaces, hyphens" in body and "30 February 1980 does not exist." in body
    resp = client.post(
        url(patient),
        cov_data(
            payer, relationship="child", subscriber_name="Ana Garcia", subscriber_birth_date="1980-02-03"
        ),
    )
    assert resp.status_code == 302
    cov = Coverage.objects.get()
    assert cov.subscriber_name == "Ana Garcia" and str(cov.subscriber_birth_date) == "1980-02-03"


def test_primary_then_secondary_and_a_second_primary_is_refused(login, front_desk, patient, payer):
    client = login(front_desk)
    other = Payer.objects.create(name="Cigna", payer_id="62308")
    assert client.post(url(patient), cov_data(payer)).status_code == 302
    assert client.post(url(patient), cov_data(other, order="2", member_id="C55")).status_code == 302
    resp = client.post(url(patient), cov_data(other, member_id="C77"))
    assert resp.status_code == 200
    assert "already has a primary coverage" in resp.content.decode()
    assert [(c.order, c.payer.name) for c in Coverage.objects.order_by("order")] == [
        (1, "Aetna"),
        (2, "Cigna"),
    ]
    # Ending the primary frees the place; the ended one stays in the history.
    primary = Coverage.objects.get(order=1)
    resp = client.post(reverse("patients:insurance_end", args=[patient.pk, primary.pk]))
    assert resp.status_code == 302
    assert client.post(url(patient), cov_data(other, member_id="C77")).status_code == 302
    assert (
        Coverage.objects.filter(active=True).count() == 2
        and Coverage.objects.filter(active=False).count() == 1
    )


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "card.jpg", "is not a JPEG or PNG image"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "card.jpg", "is not a JPEG or PNG image"),
        (b"", "card.jpg", "empty file"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100, "card.heic", "HEIC"),
        (b"GIF89a" + b"\x00" * 50, "card.gif", "is not a JPEG or PNG image"),
    ],
    ids=["windows-exe-renamed-jpg", "elf-renamed-jpg", "zero-bytes", "heic", "broken-gif"],
)
def test_card_photo_is_checked_by_content_and_nothing_is_half_saved(
    login, front_desk, patient, payer, data, name, message
):
    before = stored_card_files()
    resp = login(front_desk).post(
        url(patient),
        {**cov_data(payer), "card_front": upload(image_bytes()), "card_back": upload(data, name)},
    )
    assert resp.status_code == 200
    body = resp.content.decode()
    assert message in body and "The back photo" in body
    assert 'data-testid="photos-again"' in body  # the form says the photos must be chosen again
    assert 'value="W123456789"' in body  # everything typed is kept
    assert not Coverage.objects.exists() and stored_card_files() == before


def test_a_gif_image_is_refused_as_gif(login, front_desk, patient, payer):
    resp = login(front_desk).post(
        url(patient), {**cov_data(payer), "card_front": upload(image_bytes("GIF"), "card.gif", "image/gif")}
    )
    assert "only JPEG or PNG are accepted" in resp.content.decode() and not Coverage.objects.exists()


def test_an_oversized_photo_is_refused(login, front_desk, patient, payer, settings):
    big = image_bytes() + os.urandom(cards.MAX_BYTES)  # a valid JPEG start, over 10 MB
    resp = login(front_desk).post(url(patient), {**cov_data(payer), "card_front": upload(big)})
    assert resp.status_code == 200
    assert "larger than 10 MB" in resp.content.decode() and not Coverage.objects.exists()


def test_a_failed_row_write_removes_the_stored_photos(front_desk, patient, payer):
    from django.core.exceptions import ValidationError

    from patients.coverage import coverage_add

    coverage_add(
        actor=front_desk, patient_id=patient.pk, data={"payer": payer, "order": 1, "member_id": "A1"}
    )
    before = stored_card_files()
    image = cards.CardImage(data=image_bytes(), content_type="image/jpeg")
    with pytest.raises(ValidationError):
        coverage_add(
            actor=front_desk,
            patient_id=patient.pk,
            data={"payer": payer, "order": 1, "member_id": "A2"},
            front=image,
        )
    assert stored_card_files() == before and Coverage.objects.count() == 1


def test_a_copied_card_file_does_not_decrypt_under_another_name(front_desk, patient, payer):
    from patients.crypto import DecryptionError

    name = cards.card_store(cards.CardImage(data=image_bytes(), content_type="image/jpeg"))
    with default_storage.open(name, "rb") as fh:
        copy = default_storage.save(f"{cards.FOLDER}/copied.bin", fh)
    with pytest.raises(DecryptionError):
        cards.card_read(copy)
    cards.card_delete(name)
    cards.card_delete(copy)


def test_outsider_gets_404_for_the_page_and_the_card(login, colleague, front_desk, patient, payer):
    client = login(front_desk)
    client.post(url(patient), {**cov_data(payer), "card_front": upload(image_bytes())})
    cov = Coverage.objects.get()
    outsider = login(colleague)
    assert outsider.get(url(patient)).status_code == 404
    resp = outsider.get(reverse("patients:insurance_card", args=[patient.pk, cov.pk, "front"]))
    assert resp.status_code == 404
    assert AccessEvent.objects.filter(
        actor=colleague, category="insurance card", outcome="denied", patient_id=patient.pk
    ).exists()
    # A card of another patient's coverage cannot be fetched through this patient's URL.
    assert (
        login(front_desk)
        .get(
            reverse(
                "patients:insurance_card", args=[patient.pk, "00000000-0000-4000-8000-000000000000", "front"]
            )
        )
        .status_code
        == 404
    )
