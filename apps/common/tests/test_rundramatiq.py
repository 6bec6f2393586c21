"""``manage.py rundramatiq`` replaces itself by the dramatiq CLI with the project's worker settings."""

from __future__ import annotations

import os

import pytest
from django.core.management import CommandError, call_command


class Exec(Exception):
    pass


@pytest.fixture
def execve(monkeypatch, settings):
    settings.DRAMATIQ = {**settings.DRAMATIQ, "BROKER_URL": "redis://127.0.0.1:6379/9"}
    seen: dict = {}

    def fake(path, argv, env):
        seen.update(path=path, argv=argv, env=env)
        raise Exec

    monkeypatch.setattr(os, "execve", fake)
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)
    monkeypatch.delenv("WORKER_IDLE_POLL_MS", raising=False)
    return seen


def test_workers_poll_often_and_keep_their_database_connections(execve):
    with pytest.raises(Exec):
        call_command("rundramatiq", "--processes", "3", "--threads", "2")
    argv, env = execve["argv"], execve["env"]
    assert argv[1:] == ["-m", "dramatiq", "config.worker", "--processes", "3", "--threads", "2"]
    assert env["dramatiq_queue_prefetch"] == "2"  # prefetch 1 per thread
    assert env["dramatiq_worker_timeout"] == "100"  # not dramatiq's 1 s between polls
    assert env["DB_CONN_MAX_AGE"] == "300"


def test_operator_settings_win(execve, monkeypatch):
    monkeypatch.setenv("DB_CONN_MAX_AGE", "0")
    with pytest.raises(Exec):
        call_command("rundramatiq", "--idle-poll-ms", "250", "--queues", "jobs")
    env = execve["env"]
    assert env["DB_CONN_MAX_AGE"] == "0" and env["dramatiq_worker_timeout"] == "250"
    assert execve["argv"][-2:] == ["--queues", "jobs"]


def test_embedded_mode_is_refused(settings):
    settings.DRAMATIQ = {**settings.DRAMATIQ, "BROKER_URL": "stub://"}
    with pytest.raises(CommandError, match="BROKER_URL is not set"):
        call_command("rundramatiq")


class FakeRedis:
    def __init__(self, messages=()):
        self.fetches = 0
        self.messages = list(messages)

    def do_fetch(self, queue_name, count):
        self.fetches += 1
        out, self.messages = self.messages[:count], self.messages[count:]
        return out


def consumer(broker, prefetch=1):
    from config.dramatiq import _prompt_redis_broker_class

    cls = _prompt_redis_broker_class().consumer_class.fget(None)
    return cls(broker, "jobs", prefetch, 100)


def test_a_busy_redis_consumer_waits_in_short_steps_without_polling():
    import time

    redis = FakeRedis()
    busy = consumer(redis)
    busy.queued_message_ids.add("being-processed")  # its one prefetched message is running
    busy.misses = 30  # dramatiq would now sleep its longest backoff (worker_timeout)
    start = time.perf_counter()
    assert next(busy) is None
    assert time.perf_counter() - start < 0.05 and redis.fetches == 0
    busy.queued_message_ids.clear()  # the job ended and was acknowledged: fetch at once
    assert next(busy) is None and redis.fetches == 1


def test_an_idle_redis_consumer_fetches_as_dramatiq_does():
    from dramatiq import Message

    data = Message(queue_name="jobs", actor_name="tasks.run_job", args=(), kwargs={}, options={}).encode()
    redis = FakeRedis([data])
    idle = consumer(redis)
    message = next(idle)
    assert message is not None and message.actor_name == "tasks.run_job" and redis.fetches == 1
    assert idle.outstanding_message_count == 1  # now busy until acknowledged
