from functools import cache

from django.urls import reverse
from django_otp import user_has_device

from .roles import Role, admin_site_allowed, mfa_required, role_grants, user_roles

# Any one of these opens the clinic settings (clinic/access.py holds the sections; accounts sits below clinic).
CLINIC_SETTINGS_PERMS = (
    "scheduling.change_location",
    "scheduling.change_workinghours",
    "scheduling.change_appointmenttype",
    "encounters.change_notetemplate",
    "encounters.change_clinicunits",
)


def _second_factor_pending(user) -> bool:
    is_verified = getattr(user, "is_verified", None)
    if is_verified is None or is_verified():
        return False
    return mfa_required(user) or user_has_device(user, confirmed=True)


# The top bar's links name views without arguments: reversed once per process, not on every page (a reverse costs
# ~50 us, and the bar has a dozen; docs/benchmark.md).
BAR_URLS = {
    "search": "patients:search",
    "security": "accounts:security",
    "password_change": "accounts:password_change",
    "logout": "accounts:logout",
}


@cache
def _url(name: str) -> str:
    return reverse(name)


def navigation(request):
    """Role-aware navigation for the top bar: each role sees only the places it can use."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    if _second_factor_pending(user):
        return {}  # the enrolment and verification pages show no way around them
    roles = user_roles(user)
    items = [("home", "Home")]
    if roles & {Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}:
        items.append(("patients:search", "Patients"))
    if roles & {Role.FRONT_DESK, Role.CLINICIAN, Role.NURSE, Role.PRACTICE_ADMIN}:
        items.append(("scheduling:day_list", "Schedule"))
    if roles & {Role.CLINICIAN, Role.NURSE}:  # the clinical inbox (pharmacy requests are in it too)
        items.append(("inbox:inbox", "Inbox"))
    if Role.CLINICIAN in roles:
        items.append(("orders:review", "Results"))
    if Role.NURSE in roles:  # clinicians reach the unmatched queue from their results list
        items.append(("orders:unmatched", "Unmatched results"))
    if roles & {Role.CLINICIAN, Role.NURSE}:  # the queue shows prescriptions of patients they treat
        items.append(("prescriptions:attention", "Needs attention"))
    if roles & {Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}:
        items.append(("prescriptions:pharmacy_directory", "Pharmacies"))
    if Role.PRIVACY_OFFICER in roles:
        items.append(("audit:reports", "Audit"))
    if any(role_grants(user, p) for p in CLINIC_SETTINGS_PERMS):
        items.append(("clinic:overview", "Clinic settings"))
    if admin_site_allowed(user):  # the admin site's own test (accounts/admin.py PracticeAdminSite)
        items.append(("admin:index", "Admin"))
    return {
        "nav_items": [(name, _url(name), label) for name, label in items],
        "bar_urls": {key: _url(name) for key, name in BAR_URLS.items()},
        "user_roles": roles,
        "can_search_patients": bool(roles & {Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}),
    }
