"""The queue of content tasks: round-robin by owner, one task per document at a time (pure, thread-safe).

One tenant's 50 uploads must not delay another tenant's single upload behind all of them: the next task
comes from the waiting owner that was served least recently, and an owner may be limited to fewer tasks
at once than there are workers, so that one owner's long documents leave a worker for the others.
A document's tasks (its processing, then a re-index its tag change asked for) run in the order they
were queued and never two at once.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Tasks keyed by content id and grouped by owner; `get` hands out the next task of the owner served
    least recently (an owner new to the queue first), so every owner with waiting tasks gets one turn per round."""

    def __init__(self, max_per_owner: int | None = None) -> None:
        self.max_per_owner = max_per_owner  # tasks of one owner running at once (None: no limit)
        self._owners: dict[str, deque[tuple[str, T]]] = {}  # waiting tasks, owners in order of arrival
        self._served: dict[str, int] = {}  # owner -> the turn it was last served in
        self._turn = 0
        self._busy: dict[str, str] = {}  # keys handed out and not yet done -> their owner
        self._running: dict[str, int] = {}  # owner -> how many of its tasks are handed out
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
            owner = self._busy.pop(key, None)
            if owner is not None:
                self._running[owner] -= 1
                if not self._running[owner]:
                    del self._running[owner]
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
        """The first runnable task of the owner served least recently that has one (and is under its limit)."""
        best: tuple[int, str, int] | None = None
        for owner, tasks in self._owners.items():
            if self.max_per_owner is not None and self._running.get(owner, 0) >= self.max_per_owner:
                continue
            index = next((i for i, (key, _) in enumerate(tasks) if key not in self._busy), None)
            turn = self._served.get(owner, 0)
            if index is not None and (best is None or turn < best[0]):
                best = (turn, owner, index)
        if best is None:
            return None
        _, owner, index = best
        tasks = self._owners[owner]
        key, task = tasks[index]
        del tasks[index]
        if not tasks:
            del self._owners[owner]
        self._turn += 1
        self._served[owner] = self._turn
        self._busy[key] = owner
        self._running[owner] = self._running.get(owner, 0) + 1
        return key, task
