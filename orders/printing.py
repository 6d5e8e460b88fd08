"""The requisition: what the lab or imaging site needs on paper (PDF), with the specimen label's barcode.

The barcode is Code 128 of the placer order number (ORC-2), the number the lab's result carries back, so a tube
scanned at the lab and a result filed here meet on the same twelve characters.
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from reportlab.graphics.barcode import code128
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

CLINIC_NAME = getattr(settings, "CLINIC_NAME", "Springfield Family Practice")


def requisition_pdf(order) -> bytes:
    """`order` came through selectors.order_get (access checked, event recorded)."""
    p = order.patient
    clinician = order.ordering_clinician
    npi = getattr(getattr(clinician, "practitioner", None), "npi", "")
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, pageCompression=1)
    c.setTitle(f"Requisition {order.placer_number}")
    width, height = letter
    y = height - 0.8 * inch
    c.setFont("Helvetica-Bold", 15)
    c.drawString(0.8 * inch, y, f"{order.lab.name if order.lab else 'Laboratory'}: requisition")
    c.setFont("Helvetica", 10)
    c.drawRightString(width - 0.8 * inch, y, CLINIC_NAME)
    y -= 0.35 * inch

    def line(label: str, value: str, bold: bool = False) -> None:
        nonlocal y
        c.setFont("Helvetica-Bold", 10)
        c.drawString(0.8 * inch, y, label)
        c.setFont("Helvetica-Bold" if bold else "Helvetica", 10)
        c.drawString(2.4 * inch, y, value[:95])
        y -= 0.24 * inch

    line("Order number", order.placer_number, bold=True)
    line("Priority", order.get_priority_display(), bold=order.priority != "routine")
    line("Patient", f"{p.family_name}, {p.given_name}")
    line("Date of birth", f"{p.birth_date:%m/%d/%Y}")
    line("Sex", p.get_sex_at_birth_display())
    line("MRN", p.mrn)
    line("Test", f"{order.test.name} (LOINC {order.test.loinc})", bold=True)
    if order.test.specimen:
        line("Specimen", order.test.specimen)
    if order.test.container:
        line("Container", order.test.container)
    for d in order.diagnoses:
        line("Diagnosis", f"{d['code']} {d['description']}")
    for a in order.answers:
        line(a["text"][:30], a["answer"])
    line("Ordered by", f"{clinician.get_full_name()}  NPI {npi}")
    line("Signed", f"{order.signed_at:%m/%d/%Y %H:%M} UTC" if order.signed_at else "")
    y -= 0.2 * inch
    # The specimen label: name, DOB, test and the barcode of the order number.
    c.rect(0.8 * inch, y - 1.3 * inch, 3.6 * inch, 1.3 * inch)
    c.setFont("Helvetica-Bold", 9)
    c.drawString(0.9 * inch, y - 0.2 * inch, f"{p.family_name}, {p.given_name}  DOB {p.birth_date:%m/%d/%Y}")
    c.setFont("Helvetica", 8)
    c.drawString(0.9 * inch, y - 0.36 * inch, f"{order.test.name[:40]}  {order.test.container[:20]}")
    barcode = code128.Code128(order.placer_number, barHeight=0.5 * inch, barWidth=1.0)
    barcode.drawOn(c, 0.9 * inch, y - 1.0 * inch)
    c.drawString(0.9 * inch, y - 1.18 * inch, order.placer_number)
    c.showPage()
    c.save()
    return buf.getvalue()
