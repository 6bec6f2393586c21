"""A logging filter that keeps secrets out of every log line.

Wired on the console handler in ``config.settings.LOGGING``. It masks, in the formatted message
and its arguments: JWTs (``eyJ...``), ``password``/``token``/``refresh``/``access``/``secret``
values in ``key=value``, ``key: value`` and JSON forms, ``Authorization`` headers, and the
token parts of the password-reset and e-mail verification links.
"""

from __future__ import annotations

import logging
import re

MASK = "[redacted]"

_PATTERNS = [
    # JSON Web Tokens (header.payload.signature, base64url, header starts with '{"').
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # Authorization: Bearer xxx / Basic xxx
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic|token)\s+[^\s'\",}]+"), r"\1\2 " + MASK),
    # key=value, key: value, "key": "value" for secret-ish keys.
    (
        re.compile(
            r"(?i)(['\"]?\b(?:new_|old_)?(?:password[12]?|passwd|secret|token|refresh|access|api_key|csrfmiddlewaretoken)"
            r"\b['\"]?\s*[:=]\s*)(['\"]?)([^\s'\",&}]+)"
        ),
        r"\1\2" + MASK,
    ),
    # /accounts/reset/<uidb64>/<token>/ and /accounts/verify/<uidb64>/<token>/
    (re.compile(r"(/(?:reset|verify)/[A-Za-z0-9_-]+/)(?!set-password)[A-Za-z0-9]+-[A-Za-z0-9]+"), r"\1" + MASK),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record's message with secrets masked (arguments are folded in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
