"""Background work for accounts: the password-reset email (issue 18 #8).

The reset page only validates the address and queues this task, whatever the address: whether an account uses it,
and the time it takes to build and send the mail, happen here, so the page's answer and timing do not tell.
"""

from celery import shared_task

RESET_SUBJECT = "accounts/password_reset_subject.txt"
RESET_EMAIL = "accounts/password_reset_email.txt"


@shared_task(ignore_result=True)
def password_reset_email(email: str, domain: str, use_https: bool) -> None:
    """Email a reset link to each active account with a usable password at `email` (Django's rules); else nothing."""
    from django.contrib.auth.forms import PasswordResetForm

    form = PasswordResetForm(data={"email": email})
    if form.is_valid():
        form.save(
            domain_override=domain,
            use_https=use_https,
            subject_template_name=RESET_SUBJECT,
            email_template_name=RESET_EMAIL,
        )
