"""factory_boy factories shared by every test package. Personas are built from these in conftest.py."""

from datetime import date

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import Practitioner
from patients.models import Department, Patient

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            for role in extracted:
                self.groups.add(Group.objects.get(name=role))


class PractitionerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practitioner

    user = factory.SubFactory(UserFactory)
    npi = "1234567893"  # a valid NPI (check digit 3)
    dea_number = "AB1234563"
    specialty = "Family medicine"
    credentials = "MD"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Department {n}")


def make_patient(**kw) -> Patient:
    """A patient saved the way the registration service saves one (MRN, derived search columns)."""
    from patients.services import mrn_next, patient_derive

    defaults = dict(
        given_name="Maria",
        family_name="Garcia",
        birth_date=date(1970, 3, 2),
        sex_at_birth="F",
        phones=[{"use": "mobile", "value": "555-010-2000"}],
        ssn="123-45-6789",
        email="maria@example.test",
    )
    defaults.update(kw)
    p = Patient(**defaults)
    p.mrn = mrn_next()
    patient_derive(p)
    p.save(force_insert=True)
    return p


def chart_changed(patient) -> None:
    """Bump the patient's chart version, as any write to the chart's records does (patients/chartversion.py): the
    next chart page is drawn afresh, not served from the cache. For tests that count the queries of drawing it."""
    from django.db.models import F

    Patient.objects.filter(pk=patient.pk).update(chart_version=F("chart_version") + 1)
