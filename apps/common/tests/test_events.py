import dataclasses

import pytest
from django.db import transaction

from apps.common import context, events


@dataclasses.dataclass(frozen=True, kw_only=True)
class ThingHappened(events.Event):
    name = "common.test.thing_happened"
    subject_type = "thing"
    colour: str = "blue"


@pytest.fixture
def handlers():
    seen = {"after": [], "in_tx": []}

    def after(event):
        seen["after"].append(event)

    def in_tx(event):
        seen["in_tx"].append(event)

    events.subscribe(ThingHappened, after)
    events.subscribe(ThingHappened, in_tx, phase="in_transaction")
    yield seen
    events.unsubscribe(ThingHappened, after)
    events.unsubscribe(ThingHappened, in_tx, phase="in_transaction")


@pytest.mark.django_db(transaction=True)
def test_after_commit_handlers_wait_for_commit(handlers):
    with transaction.atomic():
        events.publish(ThingHappened(subject_id="1"))
        assert len(handlers["in_tx"]) == 1
        assert handlers["after"] == []
    assert [e.subject_id for e in handlers["after"]] == ["1"]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_dispatches_nothing_after_commit(handlers):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish(ThingHappened(subject_id="2"))
        raise RuntimeError("boom")
    assert handlers["after"] == []


@pytest.mark.django_db(transaction=True)
def test_failing_subscriber_does_not_break_publisher(handlers, caplog):
    def broken(event):
        raise ValueError("subscriber bug")

    events.subscribe(ThingHappened, broken)
    try:
        events.publish(ThingHappened(subject_id="3"))
    finally:
        events.unsubscribe(ThingHappened, broken)
    assert [e.subject_id for e in handlers["after"]] == ["3"]
    assert "subscriber bug" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_in_transaction_handler_error_aborts_the_change(handlers):
    def refuse(event):
        raise RuntimeError("cannot record")

    events.subscribe(ThingHappened, refuse, phase="in_transaction")
    try:
        with pytest.raises(RuntimeError, match="cannot record"):
            events.publish(ThingHappened(subject_id="4"))
    finally:
        events.unsubscribe(ThingHappened, refuse, phase="in_transaction")


def test_event_captures_request_context_and_serialises():
    with context.bind(context.RequestContext(request_id="req-42", client_ip="10.0.0.1")):
        event = ThingHappened(subject_id="5", colour="red")
    data = event.to_dict()
    assert data["name"] == "common.test.thing_happened"
    assert data["request"]["request_id"] == "req-42"
    assert data["payload"] == {"colour": "red"}
    assert events.registry["common.test.thing_happened"] is ThingHappened


def test_unregistered_event_is_refused():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Nameless(events.Event):
        pass

    with pytest.raises(TypeError):
        events.publish(Nameless())


def test_duplicate_event_name_is_refused():
    with pytest.raises(TypeError):

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Clash(events.Event):
            name = "common.test.thing_happened"
