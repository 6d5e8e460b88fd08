"""Expected answers of the project-level URLs (ehr: home, healthz) and accounts:*.

The admin (admin:*) and the OAuth provider (oauth2_provider:*) are covered by a rule, not per URL: see EXEMPT in
tests/test_authorization_matrix.py and the admin tests that own them.
"""

PERSONAS = ["clinician", "colleague", "nurse", "front_desk", "admin_user", "privacy", "anonymous"]


def everyone(status, anonymous=302):
    return {p: status for p in PERSONAS if p != "anonymous"} | {"anonymous": anonymous}


ENTRIES = [
    {"name": "home", "kwargs": lambda ctx: {}, "expect": everyone(200)},
    {"name": "healthz", "kwargs": lambda ctx: {}, "expect": everyone(200, anonymous=200)},
    {"name": "favicon", "kwargs": lambda ctx: {}, "expect": everyone(301, anonymous=301)},
    # Signed-in users are sent on from the sign-in page (redirect_authenticated_user).
    {"name": "accounts:login", "kwargs": lambda ctx: {}, "expect": everyone(302, anonymous=200)},
    {"name": "accounts:logout", "kwargs": lambda ctx: {}, "expect": everyone(405, anonymous=405)},
    {"name": "accounts:logout", "method": "post", "kwargs": lambda ctx: {}, "expect": everyone(302)},
    # Already verified: sent on.
    {"name": "accounts:mfa_verify", "kwargs": lambda ctx: {}, "expect": everyone(302)},
    # A verified user may enrol a replacement authenticator.
    {"name": "accounts:mfa_enroll", "kwargs": lambda ctx: {}, "expect": everyone(200)},
    {"name": "accounts:recovery_codes", "kwargs": lambda ctx: {}, "expect": everyone(405)},
    {"name": "accounts:security", "kwargs": lambda ctx: {}, "expect": everyone(200)},
    {"name": "accounts:password_change", "kwargs": lambda ctx: {}, "expect": everyone(200)},
    {"name": "accounts:password_change_done", "kwargs": lambda ctx: {}, "expect": everyone(200)},
    {"name": "accounts:password_reset", "kwargs": lambda ctx: {}, "expect": everyone(200, anonymous=200)},
    {
        "name": "accounts:password_reset_done",
        "kwargs": lambda ctx: {},
        "expect": everyone(200, anonymous=200),
    },
    {
        "name": "accounts:password_reset_confirm",
        "kwargs": lambda ctx: {"uidb64": "MQ", "token": "bad-token"},
        "expect": everyone(200, anonymous=200),
    },
    {
        "name": "accounts:password_reset_complete",
        "kwargs": lambda ctx: {},
        "expect": everyone(200, anonymous=200),
    },
]
