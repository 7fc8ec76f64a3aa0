"""The outbox wakes the dispatcher once events written in this process are committed."""

from __future__ import annotations

from recommendation_engine.service.webhook_delivery import Outbox


def test_notify_wakes_the_listeners_only_after_events_were_written() -> None:
    outbox = Outbox()
    woken: list[str] = []
    outbox.on_written(lambda: woken.append("dispatcher"))
    outbox.notify()
    assert woken == []  # nothing was written
    outbox.note_written()
    outbox.notify()
    outbox.notify()  # once per write, not per call
    assert woken == ["dispatcher"]
