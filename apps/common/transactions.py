"""What the current transaction still has to do at commit.

Django keeps a transaction's on-commit callbacks in ``connection.run_on_commit`` (entries
``(savepoint ids, callback, robust)``), drops them on rollback and drops those of a rolled-back
savepoint with it. This module is the one place that reads that list.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction


def pending_on_commit(using: str | None = None) -> list[Callable]:
    """The callbacks the current transaction will run if it commits (none outside one)."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return []
    return [entry[1] for entry in connection.run_on_commit]
