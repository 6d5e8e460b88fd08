"""The Celery worker's mail backend in tests: Django's file backend, with the folder taken from the process
environment (EMAIL_FILE_PATH, set by the celery_worker_proc fixture), since ehr/settings.py does not read it."""

import os

from django.core.mail.backends import filebased


class EmailBackend(filebased.EmailBackend):
    def __init__(self, *args, file_path=None, **kwargs):
        super().__init__(*args, file_path=file_path or os.environ["EMAIL_FILE_PATH"], **kwargs)
