"""A printable prescription (HTML page and PDF) for pharmacies that do not take electronic prescriptions.

What a pharmacist checks on paper: the practice (name, address, phone), the prescriber (name, NPI; DEA number only
for a controlled substance), the patient (name, date of birth, address), the drug with its directions and quantity,
the date written, a prescription number a person can read out on the phone, and a signature line.
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from .mapping import CLINIC_ADDRESS, CLINIC_PHONE

CLINIC_NAME = getattr(settings, "CLINIC_NAME", "Springfield Family Practice")


def phone_display(digits: str) -> str:
    """(217) 555-0100 from 2175550100; other shapes as given."""
    only = "".join(c for c in digits or "" if c.isdigit())
    if len(only) == 11 and only.startswith("1"):
        only = only[1:]
    if len(only) == 10:
        return f"({only[:3]}) {only[3:6]}-{only[6:]}"
    return digits or ""


def rx_number(rx) -> str:
    """A prescription number to read out: the date written and six characters of the order number."""
    when = rx.signed_at or rx.created_at
    return f"RX-{when:%y%m%d}-{rx.prescriber_order_number[:6].upper()}"


def _address_lines(addr: dict) -> list[str]:
    line = addr.get("line") or addr.get("line1") or ""
    if isinstance(line, list):
        line = ", ".join(line)
    city = ", ".join(
        p for p in (addr.get("city"), f"{addr.get('state', '')} {addr.get('postal_code', '')}".strip()) if p
    )
    return [x for x in (line, city) if x]


def printed_rx(rx) -> dict:
    """Everything the printed prescription shows. `rx` came through a selector (access already checked)."""
    practitioner = getattr(rx.prescriber, "practitioner", None)
    patient = rx.patient
    home = (patient.current_addresses or [{}])[0]
    return {
        "practice_name": CLINIC_NAME,
        "practice_address": _address_lines(CLINIC_ADDRESS),
        "practice_phone": phone_display((practitioner.phone if practitioner else "") or CLINIC_PHONE),
        "prescriber": rx.prescriber.get_full_name() or rx.prescriber.get_username(),
        "npi": practitioner.npi if practitioner else "",
        "dea": practitioner.dea_number if (practitioner and rx.dea_schedule) else "",
        "patient_name": f"{patient.family_name}, {patient.given_name}",
        "patient_dob": f"{patient.birth_date:%m/%d/%Y}",
        "patient_address": _address_lines(home),
        "number": rx_number(rx),
        "written": f"{rx.signed_at:%m/%d/%Y}" if rx.signed_at else "",
        "drug": rx.medication.name,
        "sig": rx.sig_text,
        "dispense": f"{rx.quantity.normalize():f} {rx.get_quantity_unit_display()}"
        + (f" ({rx.days_supply} days)" if rx.days_supply else ""),
        "refills": rx.refills,
        "substitution": "allowed" if rx.substitution_allowed else "NOT allowed (dispense as written)",
        "schedule": rx.dea_schedule,
        "diagnosis": f"{rx.diagnosis} {rx.diagnosis_description}".strip(),
        "note": rx.note_to_pharmacist,
        "order_number": rx.prescriber_order_number,
    }


def prescription_pdf(rx) -> bytes:
    """One letter page with the contents of ``printed_rx`` and a signature line."""
    p = printed_rx(rx)
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    c.setTitle(f"Prescription {p['number']}")
    y = 10.2 * inch

    def line(text: str, size: int = 11, gap: float = 0.26, bold: bool = False) -> None:
        nonlocal y
        c.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        c.drawString(1 * inch, y, text[:110])
        y -= gap * inch

    line(p["practice_name"], 15, 0.28, bold=True)
    for text in p["practice_address"]:
        line(text, 10, 0.2)
    line(f"Phone {p['practice_phone']}", 10, 0.3)
    line(f"{p['prescriber']}   NPI {p['npi']}" + (f"   DEA {p['dea']}" if p["dea"] else ""), 12, 0.3)
    line(f"Prescription {p['number']}   Date written: {p['written'] or 'UNSIGNED'}", 11, 0.36, bold=True)
    line(f"Patient: {p['patient_name']}   DOB {p['patient_dob']}", 12, 0.22)
    for text in p["patient_address"]:
        line(text, 10, 0.2)
    y -= 0.2 * inch
    line(f"Rx: {p['drug']}", 13, 0.3, bold=True)
    line(f"Sig: {p['sig']}")
    line(f"Dispense: {p['dispense']}")
    line(f"Refills: {p['refills']}    Substitution {p['substitution']}")
    if p["schedule"]:
        line(f"Controlled substance, Schedule {p['schedule']}")
    if p["diagnosis"]:
        line(f"Diagnosis: {p['diagnosis']}")
    if p["note"]:
        line(f"Note: {p['note']}")
    y -= 0.6 * inch
    c.line(1 * inch, y, 4.5 * inch, y)
    c.setFont("Helvetica", 9)
    c.drawString(1 * inch, y - 0.18 * inch, f"Prescriber signature ({p['prescriber']})")
    c.drawString(1 * inch, y - 0.4 * inch, f"Order number {p['order_number']}")
    c.showPage()
    c.save()
    return buf.getvalue()
