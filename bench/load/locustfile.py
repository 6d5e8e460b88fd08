"""Fifty members of staff on a working day (locust): the front desk searching, booking and checking patients in,
clinicians opening charts, writing notes and prescribing, nurses rooming patients and entering vitals, a privacy
officer running the who-opened report.

Run by `manage.py load_run` (bench/load/runner.py), which writes the plan this file reads (LOAD_PLAN: each
simulated user's session cookie, role and the patients, appointments and medications it may use) and reads back
the log of every response that showed a patient (LOAD_PHI_LOG) to check each has its access event.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from pathlib import Path

from locust import HttpUser, between, events, task

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text()) if os.environ.get("LOAD_PLAN") else {}
PHI_LOG: list[dict] = []
_next = {role: itertools.count() for role in ("front_desk", "clinician", "nurse", "privacy_officer")}
# The mix of the 50-user run (15 front desk, 20 clinicians, 12 nurses, 3 privacy officers), scaled to LOAD_USERS.
USERS = int(os.environ.get("LOAD_USERS", "50"))
SHARE = {"front_desk": 15, "nurse": 12, "privacy_officer": 3}
COUNTS = {role: max(1, round(USERS * n / 50)) for role, n in SHARE.items()}
COUNTS["clinician"] = max(1, USERS - sum(COUNTS.values()))
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
NOTE_VERSION = re.compile(r'name="([0-9a-f]{8})-version" value="(\d+)"')


@events.quitting.add_listener
def _write_phi_log(environment, **_):
    if os.environ.get("LOAD_PHI_LOG"):
        Path(os.environ["LOAD_PHI_LOG"]).write_text(json.dumps(PHI_LOG))


class Staff(HttpUser):
    abstract = True
    wait_time = between(1, 4)
    role = ""

    def on_start(self):
        staff = PLAN["staff"][self.role]
        self.me = staff[next(_next[self.role]) % len(staff)]
        self.client.cookies.set(self.me["cookie_name"], self.me["cookie"])

    def phi(self, path: str, name: str, patient_id: str | None, **kw):
        """GET a page that shows patient data; a 200 is logged for the completeness check."""
        with self.client.get(path, name=name, catch_response=True, **kw) as r:
            if r.status_code == 200:
                PHI_LOG.append(
                    {"user": self.me["username"], "patient": patient_id, "path": path, "t": time.time()}
                )
                r.success()
            else:
                r.failure(f"{r.status_code}")
        return r

    def post(self, path: str, name: str, data: dict, form_page: str | None = None, ok=(200, 302)):
        """POST with the CSRF token of the page the form is on (its GET is part of the task, named `name` too)."""
        page = self.client.get(form_page or path, name=f"{name} (form)")
        token = m.group(1) if (m := CSRF.search(page.text)) else ""
        with self.client.post(
            path,
            data={**data, "csrfmiddlewaretoken": token},
            name=name,
            headers={"Referer": self.host + (form_page or path)},
            allow_redirects=False,
            catch_response=True,
        ) as r:
            if r.status_code in ok:
                r.success()
            else:
                r.failure(f"{r.status_code}")
        return r

    def patient(self) -> dict:
        return random.choice(self.me["patients"])


class FrontDesk(Staff):
    role = "front_desk"
    fixed_count = COUNTS["front_desk"]

    @task(4)
    def search(self):
        p = self.patient()
        self.client.get(f"/patients/?q={p['family'][:3]}", name="/patients/?q=[name]")

    @task(3)
    def day_list(self):
        self.client.get("/schedule/", name="/schedule/ (day list)")

    @task(2)
    def book(self):
        p = self.patient()
        day = PLAN["today"]
        start = f"{day}T{random.randint(8, 16):02d}:{random.choice(['00', '15', '30', '45'])}"
        book = f"/schedule/patients/{p['id']}/book/"
        self.phi(book, "/schedule/patients/[id]/book/", p["id"])
        self.post(
            book,
            "/schedule/patients/[id]/book/ POST",
            {
                "provider": random.choice(PLAN["providers"]),
                "appointment_type": PLAN["appointment_type"],
                "start": start,
                "reason": "Follow-up",
            },
        )

    @task(2)
    def check_in(self):
        if not PLAN["appointments"]:
            return
        a = random.choice(PLAN["appointments"])
        self.phi(f"/schedule/appointments/{a['id']}/", "/schedule/appointments/[id]/", a["patient"])
        self.post(
            f"/schedule/appointments/{a['id']}/status/",
            "/schedule/appointments/[id]/status/ POST",
            {"status": "arrived", "next": "day", "date": PLAN["today"]},
            form_page=f"/schedule/appointments/{a['id']}/",
        )


class Clinician(Staff):
    role = "clinician"
    fixed_count = COUNTS["clinician"]

    @task(5)
    def open_chart(self):
        p = self.patient()
        self.phi(f"/patients/{p['id']}/", "/patients/[id]/ (chart)", p["id"])

    @task(2)
    def timeline(self):
        p = self.patient()
        self.phi(f"/schedule/patients/{p['id']}/encounters/", "/schedule/patients/[id]/encounters/", p["id"])

    @task(2)
    def write_note(self):
        p = self.patient()
        r = self.post(
            f"/schedule/patients/{p['id']}/encounters/new/",
            "/schedule/patients/[id]/encounters/new/ POST",
            {"encounter_type": "office", "reason": "Load test visit"},
            form_page=f"/schedule/patients/{p['id']}/encounters/",
        )
        enc = r.headers.get("Location", "")
        if "/encounters/" not in enc:
            return
        self.post(f"{enc}notes/new/", "/schedule/encounters/[id]/notes/new/ POST", {"template": "blank"}, enc)
        page = self.phi(enc, "/schedule/encounters/[id]/", p["id"])
        if m := NOTE_VERSION.search(page.text):
            prefix, version = m.groups()
            note_id = re.search(rf"/schedule/notes/({prefix}[0-9a-f-]+)/save/", page.text)
            if note_id:
                self.post(
                    f"/schedule/notes/{note_id.group(1)}/save/",
                    "/schedule/notes/[id]/save/ POST",
                    {
                        f"{prefix}-subjective": "Feels better.",
                        f"{prefix}-objective": "Afebrile.",
                        f"{prefix}-assessment": "Improving.",
                        f"{prefix}-plan": "Review in two weeks.",
                        f"{prefix}-version": version,
                        "save": "1",
                    },
                    form_page=enc,
                )

    @task(1)
    def prescribe(self):
        p = self.patient()
        new = f"/rx/patient/{p['id']}/new/"
        self.phi(new, "/rx/patient/[id]/new/", p["id"])
        r = self.post(
            new,
            "/rx/patient/[id]/new/ POST",
            {
                "medication_id": random.choice(PLAN["medications"]),
                "dose": "1",
                "dose_unit": "tablet",
                "route": "PO",
                "frequency": "QD",
                "quantity": "30",
                "quantity_unit": "C48542",
                "refills": "0",
                "substitution_allowed": "on",
            },
        )
        sign = r.headers.get("Location", "")
        if sign.endswith("/sign/"):
            self.phi(sign, "/rx/[id]/sign/", p["id"])
            self.post(sign, "/rx/[id]/sign/ POST", {"password": self.me["password"]})


class Nurse(Staff):
    role = "nurse"
    fixed_count = COUNTS["nurse"]

    @task(3)
    def day_list(self):
        self.client.get("/schedule/", name="/schedule/ (day list)")

    @task(2)
    def room(self):
        if not self.me["appointments"]:
            return
        a = random.choice(self.me["appointments"])
        self.phi(f"/schedule/appointments/{a['id']}/", "/schedule/appointments/[id]/", a["patient"])
        self.post(
            f"/schedule/appointments/{a['id']}/status/",
            "/schedule/appointments/[id]/status/ POST",
            {"status": "in_room"},
            form_page=f"/schedule/appointments/{a['id']}/",
        )

    @task(3)
    def vitals(self):
        e = random.choice(self.me["encounters"]) if self.me["encounters"] else None
        if e is None:
            return
        page = f"/schedule/encounters/{e['id']}/"
        self.phi(page, "/schedule/encounters/[id]/", e["patient"])
        self.post(
            f"{page}vitals/",
            "/schedule/encounters/[id]/vitals/ POST",
            {
                "systolic": str(random.randint(105, 150)),
                "diastolic": str(random.randint(60, 95)),
                "heart_rate": str(random.randint(55, 100)),
                "temperature": f"{random.uniform(97.2, 99.6):.1f}",  # in the clinic's units: °F by default
                "spo2": str(random.randint(94, 100)),
            },
            form_page=page,
        )


class PrivacyOfficer(Staff):
    role = "privacy_officer"
    fixed_count = COUNTS["privacy_officer"]
    wait_time = between(5, 15)

    @task
    def who_opened(self):
        p = self.patient()
        self.phi(f"/audit/patient/?mrn={p['mrn']}", "/audit/patient/?mrn=[mrn]", p["id"])
