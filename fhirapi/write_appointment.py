"""Appointment through the API: booked through the scheduling services (appointment_book, reschedule, cancel).

Working hours, time off and double booking are the scheduling app's rules: a slot the provider already holds is
409 with the reason, other refusals 422. The visit type is named by appointmentType (text or coding) and must be
one of the practice's; the end, when sent, must be the type's duration after the start.
"""

from __future__ import annotations

from datetime import timedelta

from accounts import roles
from audit import categories
from core.guarded import patient_id_of

from .values import Invalid, instant, text_of
from .write_base import TypeWriter, unchanged
from .writing import WriteError, Written, bad, door, from_invalid, unprocessable

# ---------------------------------------------------------------------------------------------------- Appointment
CONFLICT_WORDS = ("already has an appointment", "was just taken", "was just booked")


class AppointmentWriter(TypeWriter):
    name = "Appointment"
    subject = ""
    perm = roles.MANAGE_SCHEDULE
    category = categories.SCHEDULE
    paths = {
        "start": "Appointment.start",
        "end": "Appointment.end",
        "reason": "Appointment.cancelationReason",
        "room": "Appointment.participant",
    }
    default_path = "Appointment.start"

    def refusal(self, exc):
        words = " ".join(exc.messages)
        if any(w in words for w in CONFLICT_WORDS):
            return WriteError(409, "conflict", words, "Appointment.start")
        return super().refusal(exc)

    def _patient(self, r) -> object:
        from .writing import patient_id_in

        for i, p in enumerate(r.get("participant") or []):
            ref = ((p or {}).get("actor") or {}).get("reference") or ""
            if "Patient/" in ref:
                return patient_id_in(ref, f"Appointment.participant[{i}].actor")
        raise bad(
            "Appointment.participant needs the patient (actor Patient/<id>).",
            "Appointment.participant",
            code="required",
        )

    def prepare_create(self, ctx, r):
        pid = self._patient(r)
        door(ctx, pid, perm=self.perm, category=self.category)
        return pid

    def _provider(self, r):
        from accounts.models import Practitioner

        for i, p in enumerate(r.get("participant") or []):
            ref = ((p or {}).get("actor") or {}).get("reference") or ""
            if "Practitioner/" in ref:
                rid = ref.rsplit("/", 1)[-1]
                pr = (
                    Practitioner.objects.select_related("user").filter(pk=rid).first()
                    if rid.isdigit()
                    else None
                )
                if pr is None or not pr.user.is_active:
                    raise unprocessable(
                        f"{ref} is not a practitioner who sees patients here.",
                        f"Appointment.participant[{i}].actor",
                    )
                return pr.user
        raise bad(
            "Appointment.participant needs the provider (actor Practitioner/<id>).",
            "Appointment.participant",
            code="required",
        )

    def _type(self, r):
        from scheduling.models import AppointmentType

        concept = r.get("appointmentType") or ((r.get("serviceType") or [None])[0])
        names = [text_of(concept)] + [
            c.get("display") or c.get("code") for c in (concept or {}).get("coding") or []
        ]
        found = next(
            (t for n in names if n for t in AppointmentType.objects.filter(name__iexact=n)[:1]), None
        )
        if found is None:
            offered = ", ".join(AppointmentType.objects.order_by("name").values_list("name", flat=True))
            raise unprocessable(
                f"Appointment.appointmentType must name a visit type of this practice ({offered}).",
                "Appointment.appointmentType",
            )
        return found

    def _times(self, r, appt_type):
        if r.get("status") not in ("booked", None):
            raise unprocessable(
                "Appointment.status must be booked: the API books appointments.", "Appointment.status"
            )
        try:
            start = instant(r.get("start"), "Appointment.start")
            end = instant(r["end"], "Appointment.end") if r.get("end") else None
        except Invalid as exc:
            raise from_invalid(exc) from None
        if end is not None and end != start + timedelta(minutes=appt_type.duration_minutes):
            raise unprocessable(
                f"Appointment.end: a {appt_type.name} lasts {appt_type.duration_minutes} minutes here.",
                "Appointment.end",
            )
        return start

    def create(self, ctx, r, pid) -> Written:
        from scheduling.services import appointment_book

        provider, appt_type = self._provider(r), self._type(r)
        start = self._times(r, appt_type)
        appt = self.call(
            appointment_book,
            actor=ctx.user,
            patient_id=pid,
            provider=provider,
            appointment_type=appt_type,
            start=start,
            reason=str(r.get("description") or "")[:200],
            request=ctx.request,
        )
        return Written("Appointment", str(appt.pk), pid, appt)

    def patient_of(self, rid):
        from scheduling.models import Appointment

        return patient_id_of(Appointment, rid, "appointment")

    def prepare_update(self, ctx, rid, r):
        pid = self.patient_of(rid)
        door(ctx, pid, perm=self.perm, category=self.category)
        if str(self._patient(r)) != str(pid):
            raise unprocessable(
                "Appointment.participant: the patient cannot change.", "Appointment.participant"
            )
        return pid

    def update(self, ctx, rid, r, pid) -> Written:
        from scheduling.models import Appointment
        from scheduling.services import appointment_cancel, appointment_reschedule

        appt = Appointment.objects.select_related("appointment_type").get(pk=rid)
        if r.get("status") == "cancelled":
            reason = text_of(r.get("cancelationReason")) or "Cancelled through the FHIR API"
            appt = self.call(
                appointment_cancel, actor=ctx.user, appointment_id=rid, reason=reason, request=ctx.request
            )
            return Written("Appointment", rid, pid, appt)
        provider = self._provider(r)
        unchanged("Appointment.appointmentType", self._type(r).pk, appt.appointment_type_id, "book a new one")
        start = self._times(r, appt.appointment_type)
        if start != appt.start or provider.pk != appt.provider_id:
            appt = self.call(
                appointment_reschedule,
                actor=ctx.user,
                appointment_id=rid,
                start=start,
                provider=provider,
                request=ctx.request,
            )
        return Written("Appointment", rid, pid, appt)
