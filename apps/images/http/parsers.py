"""Multipart parsing for uploads: unsafe names are flagged, oversized files are not kept.

* Django's parser silently reduces ``../../x.png`` to ``x.png`` (and drops ``../`` entirely);
  we want to *report* such names as rejected, so the parser marks them instead.
* :class:`SizeLimitUploadHandler` stops keeping the bytes of a file once it passes
  ``UPLOAD_MAX_FILE_BYTES``, or once the request's files pass the uploader's remaining storage
  quota, and hands over an empty placeholder that still knows the size and the reason, so the
  service rejects it with a clear reason and the disk never holds it (a request can put at most
  the remaining quota into temporary files).
"""

from __future__ import annotations

import html
import io

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from apps.images.services import display_filename, is_unsafe_filename

UNSAFE_MARK = "\x00unsafe\x00"  # cannot come from a client: Django strips non-printables


class TooManyFiles(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_many_files"


class _MarkingParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name):
        raw = html.unescape(file_name or "")
        if is_unsafe_filename(raw):
            return UNSAFE_MARK + display_filename(raw)
        return super().sanitize_file_name(file_name)


def split_name(name: str) -> tuple[str, bool]:
    """(name, unsafe) from an uploaded file's name as parsed by :class:`UploadParser`."""
    if name.startswith(UNSAFE_MARK):
        return name[len(UNSAFE_MARK) :], True
    return name, False


class UploadParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            data, files = _MarkingParser(meta, stream, request.upload_handlers, encoding).parse()
        except TooManyFilesSent:
            raise TooManyFiles(
                f"Too many files in one request (limit {settings.UPLOAD_MAX_FILES_PER_REQUEST}). "
                "Send them in smaller batches."
            ) from None
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from None
        return DataAndFiles(data, files)


class OversizeUpload(UploadedFile):
    """Placeholder for a file whose bytes were not kept (over the size limit, or over the quota)."""

    def __init__(self, name: str, size: int, content_type: str | None, *, over_quota: bool = False):
        super().__init__(io.BytesIO(b""), name=name, content_type=content_type, size=size)
        self.over_quota = over_quota


class SizeLimitUploadHandler(FileUploadHandler):
    """First in the chain: lets chunks through until the file passes the size limit or the
    request's files together pass ``budget`` bytes (the uploader's remaining quota)."""

    def __init__(self, request=None, limit: int | None = None, budget: int | None = None):
        super().__init__(request)
        self.limit = limit if limit is not None else settings.UPLOAD_MAX_FILE_BYTES
        self.budget = budget
        self.kept = 0  # bytes of this request's files handed on so far

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0
        self.over = False
        self.over_quota = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.over = True
        elif self.budget is not None and self.kept + self.received > self.budget:
            self.over_quota = True
        if self.over or self.over_quota:
            return None  # later handlers (memory / temp file) stop receiving this file
        return raw_data

    def file_complete(self, file_size):
        if self.over or self.over_quota:
            return OversizeUpload(self.file_name, self.received, self.content_type,
                                  over_quota=self.over_quota and not self.over)
        self.kept += self.received
        return None
