"""A printable prescription (PDF) for pharmacies that do not take electronic prescriptions."""

from io import BytesIO

from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas


def prescription_pdf(rx) -> bytes:
    """One page: prescriber, patient, drug, sig, quantity, refills, signature line. `rx` came through a selector."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setTitle(f"Prescription {rx.prescriber_order_number}")
    y = 10 * inch
    practitioner = getattr(rx.prescriber, "practitioner", None)

    def line(text: str, size: int = 11, gap: float = 0.28) -> None:
        nonlocal y
        c.setFont("Helvetica", size)
        c.drawString(1 * inch, y, text[:110])
        y -= gap * inch

    line(f"{rx.prescriber.get_full_name()}  NPI {practitioner.npi if practitioner else ''}", 14, 0.3)
    if rx.dea_schedule and practitioner:
        line(f"DEA {practitioner.dea_number}")
    line(f"Date written: {rx.signed_at:%Y-%m-%d}" if rx.signed_at else "UNSIGNED")
    y -= 0.2 * inch
    line(
        f"Patient: {rx.patient.family_name}, {rx.patient.given_name}   DOB {rx.patient.birth_date:%Y-%m-%d}",
        12,
    )
    y -= 0.2 * inch
    line(f"Rx: {rx.medication.name}", 13)
    line(f"Sig: {rx.sig_text}")
    line(
        f"Dispense: {rx.quantity.normalize():f} {rx.get_quantity_unit_display()}"
        + (f" ({rx.days_supply} days)" if rx.days_supply else "")
    )
    line(f"Refills: {rx.refills}    Substitution {'allowed' if rx.substitution_allowed else 'NOT allowed'}")
    if rx.dea_schedule:
        line(f"Controlled substance, Schedule {rx.dea_schedule}")
    if rx.diagnosis:
        line(f"Diagnosis: {rx.diagnosis}")
    if rx.note_to_pharmacist:
        line(f"Note: {rx.note_to_pharmacist}")
    line(f"Order number: {rx.prescriber_order_number}", 9)
    y -= 0.6 * inch
    c.line(1 * inch, y, 4.5 * inch, y)
    c.setFont("Helvetica", 9)
    c.drawString(1 * inch, y - 0.18 * inch, "Prescriber signature")
    c.showPage()
    c.save()
    return buf.getvalue()
