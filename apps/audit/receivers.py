"""How the audit context listens: every event on the bus, and Django admin log entries.

* ``apps.common.events.ALL`` in the ``in_transaction`` phase: the record is written inside the
  publisher's transaction, so it commits or rolls back with the change; a record that cannot be
  written makes the change fail (nothing happens unrecorded).
* ``post_save`` of ``django.contrib.admin.models.LogEntry`` (admin add/change/delete, written by
  the admin inside its own transaction) as ``admin.change.v1`` records. Django writes several
  entries at once with ``bulk_create`` (bulk "delete selected"), which sends no signal:
  ``LogEntryManager.log_actions`` is wrapped to record those too.
"""

from __future__ import annotations

import functools

from django.db.models.signals import post_save

from apps.common import events

_DISPATCH_UID = "apps.audit.receivers.admin_log_entry"


def _record_event(event: events.Event) -> None:
    from apps.audit import services

    services.record_event(event)


def _on_log_entry_saved(sender, instance, created, raw=False, **kwargs) -> None:
    from apps.audit import services

    if created and not raw:
        services.record_admin_entry(instance)


def _wrap_log_actions() -> None:
    from django.contrib.admin.models import LogEntryManager

    original = LogEntryManager.log_actions
    if getattr(original, "_audited", False):
        return

    @functools.wraps(original)
    def log_actions(self, *args, **kwargs):
        from apps.audit import services

        result = original(self, *args, **kwargs)
        # One entry is saved (post_save fires); several are bulk-created (no signal).
        if isinstance(result, list) and len(result) > 1:
            for entry in result:
                services.record_admin_entry(entry)
        return result

    log_actions._audited = True
    LogEntryManager.log_actions = log_actions


def connect() -> None:
    from django.contrib.admin.models import LogEntry

    events.subscribe(events.ALL, _record_event, phase="in_transaction")
    post_save.connect(_on_log_entry_saved, sender=LogEntry, dispatch_uid=_DISPATCH_UID)
    _wrap_log_actions()


def disconnect() -> None:
    """Stop listening (benchmarks compare publishing with and without the audit trail)."""
    events.unsubscribe(events.ALL, _record_event, phase="in_transaction")


record_event = _record_event
