import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")
application = get_wsgi_application()

from ehr.runtime import freeze_startup_objects  # noqa: E402 - after Django is set up

freeze_startup_objects()
