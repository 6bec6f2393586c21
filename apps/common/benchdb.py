"""A throw-away database for benchmark commands: the real database's data is never touched.

``with throwaway_database("bench_api"):`` creates a fresh, migrated database next to the
configured one (PostgreSQL: ``<prefix>_<pid>`` on the same server; SQLite: a file in a temporary
folder), points the default connection at it, and drops it on exit, even after an error, Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """Yield the name of a new migrated database that the default connection now uses."""
    creation = connection.creation
    test_settings = connection.settings_dict.setdefault("TEST", {})
    folder = None
    if connection.vendor == "sqlite":  # a file (as in production), not the in-memory test default
        folder = tempfile.mkdtemp(prefix=f"{prefix}-")
        test_settings["NAME"] = str(Path(folder) / "bench.sqlite3")
    else:  # a name of its own: never clobber a database somebody else is using
        test_settings["NAME"] = f"{prefix}_{os.getpid()}"
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit) if main else None
    old_name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        if main:
            signal.signal(signal.SIGTERM, previous)


def _exit(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally above: the database is dropped
