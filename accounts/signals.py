import time

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db.models.signals import post_migrate, pre_save
from django.dispatch import receiver

from .models import UserSession

User = get_user_model()


@receiver(user_logged_in)
def remember_session(sender, request, user, **kwargs):
    # The absolute session lifetime counts from here (accounts/middleware.py SessionLifetimeMiddleware).
    request.session["auth_started"] = request.session["last_activity"] = time.time()
    if request.session.session_key:
        UserSession.objects.get_or_create(user=user, session_key=request.session.session_key)


@receiver(pre_save, sender=User)
def end_sessions_of_deactivated_user(sender, instance, **kwargs):
    """Deactivating a user (admin, API or shell) ends every session they have, at once."""
    if instance.pk and not instance.is_active:
        was_active = User.objects.filter(pk=instance.pk, is_active=True).exists()
        if was_active:
            keys = list(UserSession.objects.filter(user_id=instance.pk).values_list("session_key", flat=True))
            Session.objects.filter(session_key__in=keys).delete()
            UserSession.objects.filter(user_id=instance.pk).delete()


@receiver(post_migrate)
def sync_roles_after_migrate(sender, **kwargs):
    """Attach permissions of apps migrated after the roles migration (axes, otp ...); roles_sync is idempotent.

    post_migrate is sent once per app that has models, in INSTALLED_APPS order; the last one comes after
    every app's permissions were created (auth's receiver is connected before ours), so run then.
    """
    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if with_models and sender is with_models[-1]:
        from .services import roles_sync

        roles_sync()
