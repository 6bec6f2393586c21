"""What crosses the accounts boundary: plain frozen dataclasses, stdlib only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid


@dataclasses.dataclass(frozen=True)
class UserInfo:
    id: uuid.UUID
    email: str
    name: str
    organisation: str
    preferred_language: str
    is_active: bool
    is_staff: bool
    date_joined: dt.datetime

    @property
    def display_name(self) -> str:
        return self.name or self.email
