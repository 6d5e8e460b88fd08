"""The product stores passwords with a slow, salted hash (tests swap in a fast one, see tests/conftest.py)."""

from django.conf import global_settings

import ehr.settings as product_settings


def test_the_product_hashes_passwords_with_pbkdf2_or_stronger():
    hashers = getattr(product_settings, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)
    assert hashers[0] in {
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    }
    weak = {
        "MD5PasswordHasher",
        "SHA1PasswordHasher",
        "UnsaltedMD5PasswordHasher",
        "UnsaltedSHA1PasswordHasher",
    }
    assert not {h.rsplit(".", 1)[1] for h in hashers} & weak


def test_the_suite_swaps_in_a_fast_hasher_only_for_tests(settings):
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
