from django.conf import settings
from django.db import models

from .validators import dea_is_valid, validate_dea, validate_npi


class Practitioner(models.Model):
    """A clinician's professional identity, needed to sign notes and prescriptions."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="practitioner",
        error_messages={"unique": "This clinician already has a practitioner profile."},
    )
    npi = models.CharField(
        "NPI",
        max_length=10,
        unique=True,
        validators=[validate_npi],
        error_messages={"unique": "Another practitioner already has this NPI."},
    )
    dea_number = models.CharField("DEA number", max_length=9, blank=True, validators=[validate_dea])
    dea_expires = models.DateField("DEA registration expires", null=True, blank=True)
    specialty = models.CharField(max_length=100, blank=True)
    credentials = models.CharField(max_length=40, blank=True, help_text="e.g. MD, DO, NP, PA")
    phone = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name"]
        constraints = [
            # The database keeps the shape; the messages are what the admin shows if a value ever gets this far.
            models.CheckConstraint(
                condition=models.Q(npi__regex=r"^\d{10}$"),
                name="practitioner_npi_10_digits",
                violation_error_message="An NPI is exactly 10 digits.",
            ),
            models.CheckConstraint(
                condition=models.Q(dea_number="") | models.Q(dea_number__regex=r"^[A-Z][A-Z9]\d{7}$"),
                name="practitioner_dea_shape",
                violation_error_message="A DEA number is two capital letters and seven digits, e.g. AB1234563.",
            ),
        ]

    def __str__(self):
        name = self.user.get_full_name() or self.user.get_username()
        return f"{name}, {self.credentials}" if self.credentials else name

    def clean(self):
        # DEA numbers are printed in capitals; "ab1234563" is the same registration. Stored upper case, as the
        # database constraint requires (full_clean runs clean() before validate_constraints()).
        self.dea_number = (self.dea_number or "").strip().upper()

    @property
    def display_name(self) -> str:
        return str(self)

    def can_prescribe_controlled(self, on_date) -> bool:
        if not self.dea_number or not dea_is_valid(self.dea_number):
            return False
        return self.dea_expires is None or self.dea_expires >= on_date


class UserSession(models.Model):
    """Which sessions belong to whom, so deactivating a user can end all of their sessions at once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions"
    )
    session_key = models.CharField(max_length=40, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user_id}:{self.session_key[:6]}"


class ServiceAccount(models.Model):
    """A user that exists only to own a backend-service (client-credentials) OAuth application.

    It never signs in: its password is unusable and the sign-in backend refuses it (accounts/backends.py). What its
    application may read follows its own roles and care-team grants, like any user's. Made by administrators
    (accounts/oauth_clients.py: the admin or `manage.py oauth_client_create`).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="service_account"
    )
    purpose = models.CharField(
        max_length=200, help_text="What the backend service is, e.g. 'lab results feed'."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    audit_category = "service account"

    def __str__(self):
        return f"service account {self.user_id}"


class ExternalClinician(models.Model):
    """A clinician of another system, known only from imported records (a FHIR Practitioner, the "unknown external
    provider"): kept as an inactive user with an unusable password so the records can name them, never a staff
    account. Staff lists (the admin's user list, pickers) leave these out; the FHIR import marks each one it makes."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="external_clinician",
    )
    source = models.CharField(max_length=100, blank=True, help_text="The system the records came from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "outside clinician"

    def __str__(self):
        return f"outside clinician {self.user_id}"
