"""Insurance card photos: checked by their content, encrypted at rest, read back only through the door.

- Checked by content, never by name or declared type: Pillow must recognise a JPEG or PNG and verify it. HEIC (an
  iPhone's default) is refused with a message saying how to send it instead; an executable renamed .jpg, an empty
  file or one over MAX_BYTES is refused with a message naming the side of the card.
- Stored through Django's storage API (STORAGES["default"]), encrypted with the field encryption key (AES-GCM,
  patients/crypto.py) and the storage name bound in as associated data, so a file copied to another name does not
  decrypt. The storage name is random; it says nothing about the patient.
- Read back only by patients.views.coverage_card, after the door has checked the permission and recorded the view.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from . import crypto

MAX_BYTES = 10 * 1024 * 1024
FOLDER = "insurance-cards"
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass
class CardImage:
    data: bytes
    content_type: str


def _is_heic(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in (
        b"heic",
        b"heix",
        b"mif1",
        b"msf1",
        b"hevc",
        b"heim",
        b"heis",
    )


def card_check(upload, *, side: str) -> CardImage:
    """The photo's bytes and type, or a ValidationError that says what is wrong with it."""
    from PIL import Image, UnidentifiedImageError

    if upload.size is not None and upload.size > MAX_BYTES:
        raise ValidationError(f"The {side} photo is larger than 10 MB: take it again at a lower resolution.")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationError(f"The {side} photo is larger than 10 MB: take it again at a lower resolution.")
    if not data:
        raise ValidationError(f"The {side} photo is an empty file: choose the photo again.")
    if _is_heic(data[:16]):
        raise ValidationError(
            f"The {side} photo is HEIC (an iPhone's default), which is not accepted: "
            "send it as JPEG (Settings › Camera › Formats › Most Compatible) or take a screenshot of it."
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(f"The {side} photo is not a JPEG or PNG image.") from None
    if fmt not in CONTENT_TYPES:
        raise ValidationError(f"The {side} photo is a {fmt} image: only JPEG or PNG are accepted.")
    return CardImage(data=data, content_type=CONTENT_TYPES[fmt])


def card_store(image: CardImage) -> str:
    """Encrypt and save; returns the storage name."""
    name = f"{FOLDER}/{uuid.uuid4().hex}.bin"
    saved = default_storage.save(name, ContentFile(crypto.encrypt_bytes(image.data, context=name)))
    if saved != name:  # the storage renamed it: the associated data must name the file as stored
        default_storage.delete(saved)
        raise RuntimeError("card photo storage name collision")
    return saved


def card_read(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return crypto.decrypt_bytes(fh.read(), context=name)


def card_delete(name: str) -> None:
    if name:
        default_storage.delete(name)
