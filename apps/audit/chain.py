"""The hash chain: canonical content of a record, its SHA-256, and scrubbing of details.

``hash = sha256(canonical_json(content + prev_hash))`` where the content is every stored
field except ``hash`` itself. Canonical JSON: sorted keys, no spaces, UTF-8, datetimes as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds). The same function hashes live rows and
JSON Lines archive lines, so an archive verifies on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
import uuid
from typing import Any

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "id", "sequence", "event_type", "event_id", "occurred_at", "recorded_at", "actor", "subject_type",
    "subject_id", "project_id", "outcome", "client_ip", "user_agent", "request_id", "details", "prev_hash",
)
MAX_STRING = 2000
MAX_DEPTH = 8
REDACTED_KEY = re.compile(
    r"passw(or)?d|passphrase|^pass$|token|secret|authori[sz]ation|cookie|session[_-]?key|api[_-]?key"
    r"|private[_-]?key|signature|credential|(^|_)refresh(_|$)|(^|_)access(_token|_key)?$|(^|_)otp(_|$)",
    re.IGNORECASE,
)
# Never file contents: these keys hold bytes or base64 payloads whatever their type.
CONTENT_KEYS = re.compile(r"^(content|contents|file|file_data|data_base64|body|raw|blob|image_bytes)$", re.IGNORECASE)


def format_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_of(fields: dict[str, Any]) -> dict[str, Any]:
    """The hashed content of a record given as a dict of its fields (model values or JSON)."""
    out: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = fields.get(name)
        if isinstance(value, dt.datetime):
            value = format_time(value)
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif value is None and name != "details":
            value = ""
        out[name] = value
    if out["details"] is None:
        out["details"] = {}
    return out


def compute_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content_of(fields)).encode("utf-8")).hexdigest()


def record_fields(record) -> dict[str, Any]:
    """A model instance as the dict :func:`compute_hash` takes (plus its stored hash)."""
    data = {name: getattr(record, name) for name in HASHED_FIELDS}
    data["hash"] = record.hash
    return data


def to_json_line(record) -> str:
    data = content_of(record_fields(record))
    data["hash"] = record.hash
    return canonical_json(data)


# --------------------------------------------------------------------------- scrubbing


def scrub(value: Any, *, depth: int = 0) -> Any:
    """JSON-safe copy of ``value`` without secrets or file contents.

    Keys that look like credentials (password, token, secret, authorization, refresh, access,
    cookie ...) are dropped; bytes become a size note; strings are cut to 2,000 characters;
    NaN/inf become strings; NUL characters (refused by PostgreSQL jsonb) are removed.
    """
    if depth > MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = _clean_str(str(key))[:200]
            if REDACTED_KEY.search(key):
                continue
            if CONTENT_KEYS.match(key) and not isinstance(item, int | float | bool | type(None)):
                out[key] = "[file contents omitted]"
                continue
            out[key] = scrub(item, depth=depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if isinstance(value, set | frozenset):
            items = sorted(items, key=str)
        return [scrub(v, depth=depth + 1) for v in items[:1000]]
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes omitted]"
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        # PostgreSQL jsonb prints 1e+16 as 10000000000000000, which reads back as an int.
        return int(value) if value.is_integer() and abs(value) >= 1e16 else value
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return scrub(dataclasses.asdict(value), depth=depth + 1)
    text = _clean_str(str(value))
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"


def _clean_str(text: str) -> str:
    return text.replace("\x00", "")
