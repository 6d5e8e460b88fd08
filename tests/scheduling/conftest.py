from tests.scheduling.fixtures import appt_type, hours, room, tomorrow_9  # noqa: F401 (fixtures)
