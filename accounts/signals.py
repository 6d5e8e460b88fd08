import time

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db.models.signals import m2m_changed, post_migrate, pre_save
from django.dispatch import receiver

from . import sessions
from .models import UserSession
from .roles import Role

User = get_user_model()


@receiver(user_logged_in)
def remember_session(sender, request, user, **kwargs):
    # The absolute session lifetime counts from here (accounts/middleware.py SessionLifetimeMiddleware).
    request.session["auth_started"] = request.session["last_activity"] = time.time()
    if request.session.session_key:
        from .services import user_session_remember

        user_session_remember(user=user, session_key=request.session.session_key)


@receiver(pre_save, sender=User)
def end_sessions_of_deactivated_user(sender, instance, update_fields=None, **kwargs):
    """Deactivating a user (admin, API or shell) ends every session they have, at once; deactivation and a new
    password also revoke the API tokens issued to them (issue 18 #1: tokens outlived a password change)."""
    if not instance.pk or (update_fields is not None and not {"is_active", "password"} & set(update_fields)):
        return  # e.g. last_login at sign-in
    before = User.objects.filter(pk=instance.pk).values("is_active", "password").first()
    if before is None:
        return
    deactivated = before["is_active"] and not instance.is_active
    if deactivated:
        keys = list(UserSession.objects.filter(user_id=instance.pk).values_list("session_key", flat=True))
        Session.objects.filter(session_key__in=keys).delete()
        sessions.forget(keys)
        UserSession.objects.filter(user_id=instance.pk).delete()
    if deactivated or before["password"] != instance.password:
        from oauth2_provider.models import get_access_token_model, get_refresh_token_model

        get_refresh_token_model().objects.filter(user_id=instance.pk, revoked__isnull=True).delete()
        get_access_token_model().objects.filter(user_id=instance.pk).delete()


# Staff status is derived from the roles on every path (admin, shell, factories), like the sign-out above: a
# receiver is the one place all of them pass through.
@receiver(pre_save, sender=User)
def derive_staff_status(sender, instance, update_fields=None, **kwargs):
    if update_fields is not None and not {"is_staff", "is_superuser"} & set(update_fields):
        return  # e.g. last_login at sign-in: nothing that decides staff status changed
    is_admin = instance.pk is not None and instance.groups.filter(name=Role.PRACTICE_ADMIN).exists()
    instance.is_staff = instance.is_superuser or is_admin


@receiver(m2m_changed, sender=User.groups.through)
def derive_staff_status_after_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from .services import staff_status_sync

    if reverse:  # group.user_set changed: the users named (all of them after a clear)
        staff_status_sync(user_ids=None if action == "post_clear" else pk_set)
    else:
        staff_status_sync(user_ids=[instance.pk])
        instance.is_staff = User.objects.filter(pk=instance.pk).values_list("is_staff", flat=True).first()


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
