# Encounters start from appointments: their tests book with scheduling's fixtures.
from tests.scheduling.fixtures import appt_type, hours, room, tomorrow_9  # noqa: F401 (fixtures)
