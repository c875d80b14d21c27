"""A saga: book a trip's flight, hotel and car; when the trip fails for good,
a failure handler undoes what was booked, in reverse order.

The workflow itself holds no compensation code. ``on_failure`` names a
workflow that zart starts once, in the same commit that fails the trip, with
a ``zart.Failure`` (the trip's id, task, input and error). Each undo is an
ordinary step with a retry policy, keyed by the trip's id, so it is safe to
run for a booking that never happened and safe to run twice. A handler that
fails itself is logged and shown like any execution; it never starts another.

    python -m examples.saga [DATABASE_URL]
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading

import attrs

import zart

log = logging.getLogger(__name__)

# The outside world: booking ids by kind, as the providers would keep them.
BOOKED: dict[str, set[str]] = {"flight": set(), "hotel": set(), "car": set()}
CAR_FLEET_EMPTY = {"Lisbon"}


@attrs.frozen
class Trip:
    trip_id: str
    city: str


@zart.step("book-{kind}", retry="fixed(2, 100ms)")
def book(kind: str, trip: Trip) -> str:
    if kind == "car" and trip.city in CAR_FLEET_EMPTY:
        raise RuntimeError(f"no car left in {trip.city}")
    BOOKED[kind].add(trip.trip_id)
    return f"{kind}-{trip.trip_id}"


@zart.step("undo-{kind}", retry="exponential(5, 100ms)")
def undo(kind: str, trip_id: str) -> bool:
    """Cancel ``kind`` for the trip; False when there was nothing to cancel."""
    if trip_id not in BOOKED[kind]:
        return False
    BOOKED[kind].discard(trip_id)
    log.info("cancelled the %s of %s", kind, trip_id)
    return True


@zart.durable("undo-trip")
def undo_trip(failure: zart.Failure):
    trip = Trip(**failure.input)
    log.info("trip %s failed (%s): undoing it", trip.trip_id, failure.error["message"])
    undone = []
    for kind in ("car", "hotel", "flight"):  # the reverse of the booking order
        if (yield undo(kind, trip.trip_id)):
            undone.append(kind)
    return undone


@zart.durable("book-trip", max_retries=0, on_failure=undo_trip)
def book_trip(trip: Trip):
    flight = yield book("flight", trip)
    hotel = yield book("hotel", trip)
    car = yield book("car", trip)
    return [flight, hotel, car]


registry = zart.TaskRegistry([book_trip, undo_trip])


def main(url: str = "sqlite:///zart-example.db") -> dict[str, object]:
    store = zart.connect(url)
    store.migrate()
    client = zart.Client(store, registry)
    worker = zart.Worker(store, registry)
    threading.Thread(target=worker.run, daemon=True).start()  # signals stay with main
    try:
        porto = client.schedule(book_trip, Trip("t-porto", "Porto"))
        lisbon = client.schedule(book_trip, Trip("t-lisbon", "Lisbon"))
        booked = client.result(porto, timeout=30)
        with contextlib.suppress(zart.ExecutionFailed):  # no car: the trip fails
            client.result(lisbon, timeout=30)
        # The handler was created in the commit that failed the trip.
        [handler] = client.list(parent_id=lisbon)
        return {"porto": booked, "lisbon": client.result(handler.id, timeout=30)}
    finally:
        worker.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
