"""Settings, all from the environment (twelve-factor). See docs/deployment.md for every variable.

Production is the default: DEBUG is off unless DJANGO_DEBUG=1, cookies are secure, HSTS is on.
`python3 dev.py run` sets DJANGO_DEBUG=1 and generates development keys in var/secrets.env.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
TEST_MODE = env.bool("EHR_TEST_MODE", default=False)
# No fallback in production: a key everyone can read in this file would let anyone forge sessions and reset links.
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment to a long random value (see docs/deployment.md); "
        "for development use `python3 dev.py run`, which sets one."
    )
# Loopback is always allowed so that container health checks can reach /healthz.
ALLOWED_HOSTS = [*env.list("DJANGO_ALLOWED_HOSTS", default=[]), "localhost", "127.0.0.1"]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "guardian",
    "auditlog",
    "django_htmx",
    "csp",
    "oauth2_provider",
    "accounts",
    "audit",
    "patients",
    "scheduling",
    "encounters",
    "prescriptions",
    "orders",
    "inbox",
    "fhirapi",
    "clinic",
    "core",
    "ehr",
    "bench",  # manage.py seed / bench only; nothing in the product imports it (pyproject.toml's import contracts)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ControlCharacterMiddleware",  # NUL and other control characters: 400 at the edge
    "fhirapi.cors.RegisteredOriginCorsMiddleware",  # CORS only for origins registered on an OAuth application
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",  # before ours: the idle sign-out leaves a message
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.SessionKeyRotationMiddleware",  # password change: record the new key
    "accounts.middleware.MFARequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.AuditlogMiddleware",  # django-auditlog's, with our source address (audit.services.client_ip)
    "core.middleware.NoStoreMiddleware",
    "core.middleware.ErrorPageMiddleware",  # the door's 403/404 as the product's pages, DEBUG or not
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ehr.urls"
WSGI_APPLICATION = "ehr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- database: one PostgreSQL schema -------------------------------------------------------------
# Two roles (docs/deployment.md "Database roles"): DATABASE_URL connects as the application role at run time (DML
# only, owns nothing, may not UPDATE/DELETE/TRUNCATE the audit tables); `manage.py migrate` connects as the owner
# role given by DATABASE_MIGRATE_URL (same server and database) and then re-applies the application role's grants
# (audit/dbroles.py). DATABASE_APP_ROLE names the role those grants go to (default: DATABASE_URL's user, when a
# separate owner URL is given). Without DATABASE_MIGRATE_URL one role does both (development on a single role).
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/ehr")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env("EHR_TEST_DB_NAME", default="test_ehr")}
DATABASE_MIGRATE_URL = env("DATABASE_MIGRATE_URL", default="")
DATABASE_APP_ROLE = env(
    "DATABASE_APP_ROLE", default=DATABASES["default"]["USER"] if DATABASE_MIGRATE_URL else ""
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and Celery on Redis -----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Every periodic job, in this one place (no app adds or changes entries at run time).
CELERY_BEAT_SCHEDULE = {
    "audit-link-chain": {"task": "audit.tasks.audit_link_chain", "schedule": 2.0},
    "audit-ensure-partitions": {"task": "audit.tasks.audit_ensure_partitions", "schedule": crontab(minute=7)},
    "encounters-reminders": {"task": "encounters.tasks.reminders_send", "schedule": 60.0},
    "encounters-series-extend": {
        "task": "encounters.tasks.series_extend",
        "schedule": crontab(hour=3, minute=17),
    },
    "prescriptions-requeue-stuck": {"task": "prescriptions.tasks.requeue_stuck", "schedule": 30.0},
    "prescriptions-purge-inbound-nonces": {
        "task": "prescriptions.tasks.purge_inbound_nonces",
        "schedule": 600.0,
    },
    "fhirapi-bulk-export-expire": {"task": "fhirapi.tasks.bulk_export_expire", "schedule": 300.0},
    "orders-requeue-stuck": {"task": "orders.tasks.requeue_stuck", "schedule": 30.0},
    "inbox-escalate": {"task": "inbox.tasks.escalate", "schedule": 60.0},
}
# Minutes an open inbox item may wait before it escalates to whoever covers its clinician, per kind (a task counts
# from its due date; None: never). Unlisted kinds keep inbox/sources.py's defaults.
INBOX_ESCALATE_AFTER_MINUTES = {
    "critical_result": env.int("INBOX_ESCALATE_CRITICAL_MINUTES", default=60),
    "result": env.int("INBOX_ESCALATE_RESULT_MINUTES", default=3 * 24 * 60),
    "renewal_request": env.int("INBOX_ESCALATE_RENEWAL_MINUTES", default=2 * 24 * 60),
    "change_request": env.int("INBOX_ESCALATE_CHANGE_MINUTES", default=2 * 24 * 60),
    "task": env.int("INBOX_ESCALATE_TASK_MINUTES", default=24 * 60),
}
# The care team whose queue gets results that match no chart.
INBOX_UNMATCHED_TEAM = env("INBOX_UNMATCHED_TEAM", default="Results desk")

# --- auth, MFA, lockout, sessions ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.InteractiveModelBackend",  # ModelBackend, refusing service accounts (issue 18 #1)
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.validators.MaximumLengthValidator"},  # the sign-in form refuses longer ones
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Roles whose members must use a second factor; see accounts/roles.py.
MFA_REQUIRED_ROLES = env.list(
    "MFA_REQUIRED_ROLES", default=["clinician", "practice_admin", "privacy_officer"]
)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Open EHR")
# Nobody, superusers included, sees an authenticator's secret or QR code in the admin: whoever saw it could
# produce the owner's codes. A lost phone is handled by deleting the device; the owner enrols again.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Growing delays, not a hard lock (accounts/lockout.py): from the 5th failure for a username and the 20th from one
# address, each further try waits 15 s, doubling up to the cool-off; failures are forgotten a cool-off after the last.
AXES_HANDLER = "accounts.lockout.LoginThrottleHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
LOGIN_DELAY_SECONDS = env.int("LOGIN_DELAY_SECONDS", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a try refused during a wait does not lengthen it
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout"
AXES_VERBOSE = False
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# The chart page's body is cached per chart version for this long (patients/chart.py); 0 turns the cache off.
CHART_CACHE_SECONDS = env.int("CHART_CACHE_SECONDS", default=300)
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=15 * 60)  # seconds
SESSION_ABSOLUTE_LIFETIME = env.int("SESSION_ABSOLUTE_LIFETIME", default=12 * 3600)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME
SESSION_ENGINE = "accounts.sessions"  # in the database (deactivation finds and ends them), read through Redis

# --- security headers -----------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TEST_MODE)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and not TEST_MODE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG or TEST_MODE else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = (
    "core.views.csrf_failure"  # a plain page (Django's own mentions DEBUG and needs inline style)
)

from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
    }
}

# --- OAuth 2.0 for the FHIR API (django-oauth-toolkit): the RFC 9700 security BCP, so check --deploy is clean -----
OIDC_RSA_KEY_FILE = env("OIDC_RSA_KEY_FILE", default="")
OIDC_RSA_PRIVATE_KEY = Path(OIDC_RSA_KEY_FILE).read_text() if OIDC_RSA_KEY_FILE else ""
if not OIDC_RSA_PRIVATE_KEY and TEST_MODE:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    OIDC_RSA_PRIVATE_KEY = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
OAUTH2_PROVIDER = {
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    # SMART App Launch: the scopes the FHIR API understands, and the patient picked at a standalone launch.
    "SCOPES_BACKEND_CLASS": "fhirapi.oauth.SmartScopes",
    "OAUTH2_VALIDATOR_CLASS": "fhirapi.oauth.SmartValidator",
    # https callbacks only in production; development and tests may use loopback http ones (RFC 8252).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG or TEST_MODE else ["https"],
    # Short-lived access tokens (SMART's usual: minutes to an hour); user apps renew with a refresh token, which
    # lasts a working day. Client-credentials apps get no refresh token: they ask again (accounts/oauth_clients.py).
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_ACCESS_TOKEN_SECONDS", default=15 * 60),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_REFRESH_TOKEN_SECONDS", default=12 * 3600),
    # OpenID Connect (ID tokens signed RS256, userinfo, JWKS): on when a signing key is configured. Development keeps
    # one in var/ (ehr/devstack.py load_secrets); a test run makes a throwaway one.
    "OIDC_ENABLED": bool(OIDC_RSA_PRIVATE_KEY),
    "OIDC_RSA_PRIVATE_KEY": OIDC_RSA_PRIVATE_KEY,
}

# --- static files ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # FHIR Bulk Data export files (fhirapi/bulk.py), deleted FHIR_EXPORT_EXPIRY_SECONDS after the job finished.
    "fhir_export": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env("FHIR_EXPORT_DIR", default=str(BASE_DIR / "var" / "fhir-export"))},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TEST_MODE)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TEST_MODE
# Uploaded files (insurance card photos, encrypted: patients/cards.py). Never served directly: no MEDIA_URL.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
FHIR_EXPORT_EXPIRY_SECONDS = env.int("FHIR_EXPORT_EXPIRY_SECONDS", default=3600)

# --- email ------------------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ehr@localhost")
PRIVACY_OFFICER_EMAILS = env.list("PRIVACY_OFFICER_EMAILS", default=[])

# --- field encryption (patients/crypto.py) ----------------------------------------------------------
# FIELD_ENCRYPTION_KEYS="2:base64key,1:base64oldkey": the first is used to write; all can read.
FIELD_ENCRYPTION_KEYS = env("FIELD_ENCRYPTION_KEYS", default="")
BLIND_INDEX_KEY = env("BLIND_INDEX_KEY", default="")

# --- clinic -----------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("CLINIC_TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True
BREAK_GLASS_HOURS = env.int("BREAK_GLASS_HOURS", default=4)
AUDIT_LINK_MAX_LAG_SECONDS = env.int("AUDIT_LINK_MAX_LAG_SECONDS", default=60)
# Chain checkpoints outside the database (audit/anchor.py); production ships this folder to WORM storage.
AUDIT_ANCHOR_DIR = env(
    "AUDIT_ANCHOR_DIR",
    default=str(Path(env("EHR_DATA_DIR", default=str(BASE_DIR / "var"))) / "audit-anchors"),
)
AUDIT_ANCHOR_INTERVAL_SECONDS = env.int("AUDIT_ANCHOR_INTERVAL_SECONDS", default=60)
# Proxies in front of the app whose X-Forwarded-For hop is trusted (audit.services.client_ip): 1 behind one proxy.
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("BEHIND_PROXY", default=False) else 0
)
PHARMACY_SIMULATOR_URL = env("PHARMACY_SIMULATOR_URL", default="http://127.0.0.1:8765")

# --- e-prescribing (prescriptions) ------------------------------------------------------------------
# Sends per message before it needs attention (the Celery task's retries derive from it); the HTTP timeout per send;
# how long a message the network accepted (Status 000) may wait for its final answer, per message type.
RX_MAX_ATTEMPTS = env.int("RX_MAX_ATTEMPTS", default=10)
RX_SEND_TIMEOUT_SECONDS = env.int("RX_SEND_TIMEOUT_SECONDS", default=5)
RX_ANSWER_DEADLINE_SECONDS = {
    "NewRx": env.int("RX_NEWRX_ANSWER_DEADLINE_SECONDS", default=24 * 3600),
    "CancelRx": env.int("RX_CANCELRX_ANSWER_DEADLINE_SECONDS", default=48 * 3600),
}

# --- orders and results (orders) ---------------------------------------------------------------------
# Who we are in HL7 (MSH-3/4 out, MSH-5/6 in: a result addressed to another facility is refused), the inbound MLLP
# listener's address (manage.py hl7_listener), and the outbox's budget per message as for prescriptions.
HL7_APPLICATION = env("HL7_APPLICATION", default="OPENEHR")
HL7_FACILITY = env("HL7_FACILITY", default="OPENEHR-CLINIC")
HL7_LISTENER_HOST = env("HL7_LISTENER_HOST", default="127.0.0.1")
HL7_LISTENER_PORT = env.int("HL7_LISTENER_PORT", default=2575)
ORDERS_MAX_ATTEMPTS = env.int("ORDERS_MAX_ATTEMPTS", default=10)
ORDERS_SEND_TIMEOUT_SECONDS = env.int("ORDERS_SEND_TIMEOUT_SECONDS", default=5)

# --- scheduling --------------------------------------------------------------------------------------
# Reminders go out this many hours before an appointment (email, and SMS through the backend below: a dotted path
# to a class with send(to: str, body: str); the default only logs). Recurring series are booked this many days
# ahead; a daily task books the next occurrences as time passes.
APPOINTMENT_REMINDER_HOURS = env.int("APPOINTMENT_REMINDER_HOURS", default=24)
ENCOUNTERS_SMS_BACKEND = env("ENCOUNTERS_SMS_BACKEND", default="scheduling.notify.LogSmsBackend")
SERIES_HORIZON_DAYS = env.int("SERIES_HORIZON_DAYS", default=365)

# --- guardian: our own direct-FK permission models (patients/models.py) ---------------------------
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
GUARDIAN_AUTO_PREFETCH = False

# --- auditlog -------------------------------------------------------------------------------------
AUDITLOG_MASK_CALLABLE = "audit.masking.mask_fully"  # every app's mask_fields: nothing of the value is kept
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    # Chain checkpoints (audit/anchor.py): one line per checkpoint, for shipping to syslog / a SIEM.
    "loggers": {"audit.anchor": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}


# Lockout is per account (the username), as the security policy asks; an IP-only limit would lock a whole
# clinic behind one NAT address. axes.W006 warns about exactly this choice.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
