"""The source address of an access event (ASTM E2147): REMOTE_ADDR when the app is reached directly (a client's
X-Forwarded-For proves nothing), the right-most hop no trusted proxy vouches for when behind TRUSTED_PROXY_COUNT
proxies; the write log (django-auditlog) takes the same address."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AccessEvent
from audit.services import client_ip


def req(remote="10.0.0.5", xff=None):
    headers = {"REMOTE_ADDR": remote}
    if xff is not None:
        headers["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **headers)


@pytest.mark.parametrize(
    ("trusted", "remote", "xff", "expected"),
    [
        (0, "203.0.113.9", None, "203.0.113.9"),
        (0, "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # not behind a proxy: the header is the client's word
        (1, "10.0.0.5", "198.51.100.7", "198.51.100.7"),  # nginx appended the address it saw
        (1, "10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a forged entry on the left is ignored
        (2, "10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),  # CDN then nginx
        (1, "10.0.0.5", "198.51.100.7:4711", "198.51.100.7"),
        (1, "10.0.0.5", "[2001:db8::1]:443", "2001:db8::1"),
        (1, "10.0.0.5", "not-an-ip", "10.0.0.5"),  # garbage: fall back to the proxy's address
        (3, "10.0.0.5", "198.51.100.7", "198.51.100.7"),  # fewer hops than proxies: the left-most
        (1, "10.0.0.5", "", "10.0.0.5"),
    ],
)
def test_client_ip(settings, trusted, remote, xff, expected):
    settings.TRUSTED_PROXY_COUNT = trusted
    assert client_ip(req(remote, xff)) == expected


@pytest.mark.django_db
def test_events_and_the_write_log_record_the_client_behind_the_proxy(settings, login, front_desk, patient):
    from auditlog.models import LogEntry

    settings.TRUSTED_PROXY_COUNT = 1
    client = login(front_desk)
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    client.get(reverse("patients:detail", args=[patient.pk]), headers=headers, REMOTE_ADDR="10.0.0.5")
    ev = AccessEvent.objects.filter(actor=front_desk, patient_id=patient.pk).latest("id")
    assert ev.source_ip == "198.51.100.7"
    form = client.get(reverse("patients:edit", args=[patient.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v not in (None, [])} | {"given_name": "Mariana"}
    client.post(reverse("patients:edit", args=[patient.pk]), data, headers=headers, REMOTE_ADDR="10.0.0.5")
    entry = LogEntry.objects.filter(object_pk=str(patient.pk)).latest("id")
    assert entry.remote_addr == "198.51.100.7"


@pytest.mark.django_db
def test_a_forged_header_is_ignored_when_not_behind_a_proxy(settings, login, front_desk, patient):
    from auditlog.models import LogEntry

    settings.TRUSTED_PROXY_COUNT = 0
    client = login(front_desk)
    form = client.get(reverse("patients:edit", args=[patient.pk])).context["form"]
    data = {k: v for k, v in form.initial.items() if v not in (None, [])} | {"given_name": "Mariana"}
    client.post(
        reverse("patients:edit", args=[patient.pk]),
        data,
        headers={"X-Forwarded-For": "6.6.6.6"},
        REMOTE_ADDR="203.0.113.9",
    )
    entry = LogEntry.objects.filter(object_pk=str(patient.pk)).latest("id")
    assert entry.remote_addr == "203.0.113.9"
    ev = AccessEvent.objects.filter(actor=front_desk, channel="write").latest("id")
    assert ev.source_ip == "203.0.113.9"  # the write's own event carries the write log's address
