"""Storage naming and file operations: the one place the images context touches storage.

Only Django's storage API is used (local folder in embedded mode, S3 through django-storages
when ``S3_BUCKET`` is set). Names are generated from uuids, never from the user's filename:

* originals:  ``images/<project_id>/<image_id>.<ext>`` (ext from the decoded format)
* thumbnails: ``thumbnails/<project_id>/<image_id>.png``
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import BinaryIO

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)

_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "BMP": "bmp"}


def image_name(project_id: uuid.UUID, image_id: uuid.UUID, fmt: str) -> str:
    return f"images/{project_id}/{image_id}.{_EXTENSIONS.get(fmt, 'bin')}"


def thumbnail_name(project_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"thumbnails/{project_id}/{image_id}.png"


def save_file(name: str, fh: BinaryIO) -> str:
    """Stream a file object into storage (chunked); returns the name actually used."""
    fh.seek(0)
    return default_storage.save(name, File(fh, name=name))


def save_bytes(name: str, data: bytes) -> str:
    return default_storage.save(name, ContentFile(data, name=name))


def open_file(name: str):
    return default_storage.open(name, "rb")


def exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def delete_quietly(names: Iterable[str]) -> int:
    """Delete stored files; a failure is logged, never raised (rows are already gone)."""
    deleted = 0
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
            deleted += 1
        except Exception:  # pragma: no cover - storage outage: logged for the operator
            logger.exception("could not delete stored file %s", name)
    return deleted
