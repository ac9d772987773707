"""The queue of content tasks: round-robin by owner, one task per document at a time (pure, thread-safe).

One tenant's 50 uploads must not delay another tenant's single upload behind all of them: the next task
comes from the owner after the one served last, so each owner with waiting tasks gets one turn per round.
A document's tasks (its processing, then a re-index its tag change asked for) run in the order they
were queued and never two at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Tasks keyed by content id and grouped by owner; `get` hands them out round-robin by owner."""

    def __init__(self) -> None:
        self._owners: OrderedDict[str, deque[tuple[str, T]]] = OrderedDict()  # in turn order
        self._busy: set[str] = set()  # keys handed out and not yet done
        self._cond = threading.Condition()
        self._closed = False

    def put(self, owner: str, key: str, task: T) -> bool:
        """Queue a task; False once the queue is closed."""
        with self._cond:
            if self._closed:
                return False
            self._owners.setdefault(owner, deque()).append((key, task))
            self._cond.notify()
            return True

    def get(self) -> tuple[str, T] | None:
        """The next task in turn, waiting for one; None once the queue is closed. Call `done(key)` after it."""
        with self._cond:
            while not self._closed:
                picked = self._pick()
                if picked is not None:
                    return picked
                self._cond.wait()
            return None

    def done(self, key: str) -> None:
        """The task of `key` handed out by `get` has finished (the key's next task may run)."""
        with self._cond:
            self._busy.discard(key)
            self._cond.notify_all()

    def discard(self, key: str) -> int:
        """Drop the waiting tasks of `key`; returns how many."""
        with self._cond:
            dropped = 0
            for owner, tasks in list(self._owners.items()):
                kept = deque(item for item in tasks if item[0] != key)
                dropped += len(tasks) - len(kept)
                if kept:
                    self._owners[owner] = kept
                else:
                    del self._owners[owner]
            return dropped

    def close(self) -> None:
        """Drop every waiting task and wake the waiting `get` calls (they return None)."""
        with self._cond:
            self._closed = True
            self._owners.clear()
            self._cond.notify_all()

    def waiting(self) -> int:
        """How many tasks wait."""
        with self._cond:
            return sum(len(tasks) for tasks in self._owners.values())

    def _pick(self) -> tuple[str, T] | None:
        """The first runnable task of the first owner in turn that has one; that owner goes to the back."""
        for owner, tasks in self._owners.items():
            for index, (key, task) in enumerate(tasks):
                if key in self._busy:
                    continue
                del tasks[index]
                if tasks:
                    self._owners.move_to_end(owner)
                else:
                    del self._owners[owner]
                self._busy.add(key)
                return key, task
        return None
