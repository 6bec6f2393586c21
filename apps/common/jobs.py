"""Enqueue background work by actor name, only once the current transaction commits.

Services never import actor modules: they name the actor. The message is sent after
commit, so a worker never sees a row that does not exist yet, and a rolled-back request
sends nothing. (Durability against a broker outage is the tasks context's outbox job.)
"""

from __future__ import annotations

from functools import partial
from typing import Any

import dramatiq
from django.db import transaction


def send_now(
    actor_name: str, *args: Any, queue_name: str | None = None, delay: int | None = None, **options: Any
) -> dramatiq.Message:
    """Send a message to the named actor immediately (use inside after-commit code)."""
    broker = dramatiq.get_broker()
    actor = broker.get_actor(actor_name)
    message = actor.message_with_options(args=args, **options)
    if queue_name is not None and queue_name != message.queue_name:
        broker.declare_queue(queue_name)
        message = message.copy(queue_name=queue_name)
    return broker.enqueue(message, delay=delay)


def enqueue_on_commit(actor_name: str, *args: Any, queue_name: str | None = None, using: str | None = None, **options: Any) -> None:
    """Send a message to the named actor after the current transaction commits."""
    transaction.on_commit(partial(send_now, actor_name, *args, queue_name=queue_name, **options), using=using)
