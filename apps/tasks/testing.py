"""Test-only job kinds (imported by tests, and by workers started with SPHEROSEG_TEST_HANDLERS=1).

``test.sleep`` params:
  steps, step_seconds: progress ``steps`` times, sleeping between (a job that takes a while);
  record: a file path; the handler appends ``start <job> <attempt> <pid>`` when it starts and
          ``result <job> <attempt>`` inside ``commit_result`` (so a test counts results);
  fail_attempts: raise a transient error in the first N attempts;
  permanent: raise PermanentJobError at once.
"""

from __future__ import annotations

import os
import time

from apps.tasks.api import register_handler
from apps.tasks.contracts import JobHandle, PermanentJobError, Stage

KIND = "test.sleep"
#: Test jobs use their own queue, so test workers never consume (or purge) real "jobs"
#: messages of another process sharing the broker; the code path is the same for any queue.
QUEUE = "tasks-test"


def _append(path: str | None, line: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def sleep_handler(handle: JobHandle) -> str | None:
    params = handle.job.params
    record = params.get("record")
    attempt = handle.job.attempts
    _append(record, f"start {handle.job.id} {attempt} {os.getpid()}")
    if params.get("permanent"):
        raise PermanentJobError("the image is corrupt (test)")
    if attempt <= int(params.get("fail_attempts", 0)):
        raise ConnectionError(f"transient failure on attempt {attempt} (test)")
    steps = int(params.get("steps", 1))
    for i in range(steps):
        handle.progress(Stage.INFERENCE, int(100 * i / max(1, steps)))
        time.sleep(float(params.get("step_seconds", 0)))
    handle.progress(Stage.SAVING, 95)

    def write() -> str:
        _append(record, f"result {handle.job.id} {attempt}")
        return f"attempt-{attempt}"

    return handle.commit_result(write)


register_handler(KIND, sleep_handler, queue=QUEUE)
