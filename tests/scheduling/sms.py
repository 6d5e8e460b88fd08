"""A test SMS backend (settings.ENCOUNTERS_SMS_BACKEND): records messages instead of sending them."""


class RecordingSmsBackend:
    sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> None:
        RecordingSmsBackend.sent.append((to, body))
