"""Two people book the same slot at the same moment, each on their own database connection: exactly one wins."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from scheduling import services as sched_services
from scheduling.models import Appointment


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_bookings_one_wins(
    hours, front_desk, nurse, clinician, patient, appt_type, tomorrow_9
):
    barrier = threading.Barrier(2)
    results = []

    def book(user):
        try:
            barrier.wait(5)
            sched_services.appointment_book(
                actor=user,
                patient_id=patient.pk,
                provider=clinician,
                appointment_type=appt_type,
                start=tomorrow_9,
            )
            results.append("ok")
        except ValidationError as exc:
            results.append(" ".join(exc.messages))
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=book, args=(u,)) for u in (front_desk, nurse)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results)[-1] == "ok" and results.count("ok") == 1, results
    assert any("already has an appointment" in r or "just taken" in r for r in results)
    assert Appointment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_providers_race_for_one_room(
    hours, front_desk, nurse, clinician, colleague, patient, appt_type, room, tomorrow_9
):
    """Different providers (no provider clash), the same room at the same moment: the room constraint decides."""
    from tests.scheduling.fixtures import open_hours

    open_hours(colleague)
    barrier = threading.Barrier(2)
    results = []

    def book(user, provider):
        try:
            barrier.wait(5)
            sched_services.appointment_book(
                actor=user,
                patient_id=patient.pk,
                provider=provider,
                appointment_type=appt_type,
                start=tomorrow_9,
                room=room,
            )
            results.append("ok")
        except ValidationError as exc:
            results.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=book, args=(front_desk, clinician)),
        threading.Thread(target=book, args=(nurse, colleague)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results.count("ok") == 1, results
    assert any("room" in r and ("just booked" in r or "already booked" in r) for r in results), results
    assert Appointment.objects.filter(room=room).count() == 1
