"""A pool of Ray actors of one class, mapping work over them in input order with a bounded look-ahead."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Generator, Iterable
from types import ModuleType
from typing import Any

from batchsearch.scaleout.cluster import ACTOR_ENV

log = logging.getLogger(__name__)
TASK_RETRIES = 3  # runs of one item on restarted actors before the map raises
AHEAD_PER_ACTOR = 2  # items queued per actor: the next one is there when an actor finishes
_END = object()  # the end of the items


class ActorPool:
    """`size` actors of `cls`, each built with `args` and using one CPU; Ray restarts an actor that dies and runs
    its item again on the new one (up to TASK_RETRIES times)."""

    def __init__(self, ray: ModuleType, cls: type, size: int, *args: Any) -> None:
        self._ray = ray
        remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=TASK_RETRIES,
                            runtime_env={"env_vars": ACTOR_ENV})(cls)
        self.actors: list[Any] = [remote.remote(*args) for _ in range(size)]

    def call_all(self, method: str) -> list[Any]:
        """The answer of every actor to `method()` (waits until they are all up)."""
        return list(self._ray.get([getattr(actor, method).remote() for actor in self.actors]))

    def map(self, method: str, items: Iterable[Any], *args: Any) -> Generator[Any, None, None]:
        """`method(item, *args)` of every item on the least busy actor, yielded in input order; at most
        AHEAD_PER_ACTOR items per actor are in flight. Closing the generator cancels what is still queued."""
        source = iter(items)
        queued: deque[tuple[Any, int]] = deque()  # (result ref, actor index)
        load = [0] * len(self.actors)
        try:
            while True:
                while len(queued) < AHEAD_PER_ACTOR * len(self.actors):
                    item = next(source, _END)
                    if item is _END:
                        break
                    actor = min(range(len(self.actors)), key=load.__getitem__)
                    load[actor] += 1
                    queued.append((getattr(self.actors[actor], method).remote(item, *args), actor))
                if not queued:
                    return
                ref, actor = queued.popleft()
                result = self._ray.get(ref)
                load[actor] -= 1
                yield result
        finally:
            self._cancel([ref for ref, _ in queued])

    def close(self) -> None:
        """Stop the actors."""
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []

    def _cancel(self, refs: list[Any]) -> None:
        """Cancel items whose results nobody will read (the caller stopped or failed)."""
        for ref in refs:
            try:
                self._ray.cancel(ref)
            except Exception:  # already finished or its actor is gone: nothing to stop
                log.debug("ray: could not cancel a queued item", exc_info=True)

