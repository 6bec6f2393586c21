"""Logging helpers: every record carries the current request id."""

import logging

from apps.common.context import current


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request or job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current().request_id
        return True
