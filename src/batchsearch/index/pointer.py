"""The published index generation of a shared deployment, in the service database (SQLite or PostgreSQL).

`index_state` holds one row per index: the generation readers follow and the key of its manifest object.
Writers move it with compare-and-set (`UPDATE ... WHERE generation = :expected`), so of two hosts that
publish at once exactly one wins and the other rebases. `index_generations` remembers the manifest of every
generation still published, so a batch job can reopen the generation it pinned; garbage collection forgets
the rows of the generations it collects. Alembic revision 0002 creates both tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from batchsearch.clock import Clock, utcnow

DEFAULT_INDEX_NAME = "index"

metadata = MetaData()

index_state = Table(
    "index_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("manifest", String(300), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

index_generations = Table(
    "index_generations",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("manifest", String(300), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Published:
    """One published generation and the object key of its manifest."""

    generation: int
    manifest: str


class GenerationPointer:
    """The generation pointer of one index (rows named `name`) and the manifests of its published generations."""

    def __init__(self, engine: Engine, name: str = DEFAULT_INDEX_NAME, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.name = name
        self._clock = clock

    def current(self) -> int:
        """The generation readers follow (0: nothing published yet)."""
        head = self.head()
        return 0 if head is None else head.generation

    def head(self) -> Published | None:
        """The generation readers follow with its manifest; None before the first publish."""
        stmt = select(index_state.c.generation, index_state.c.manifest).where(index_state.c.name == self.name)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else Published(int(row.generation), str(row.manifest))

    def manifest(self, generation: int) -> str | None:
        """The manifest key of a published generation; None when it was never published or was collected."""
        stmt = select(index_generations.c.manifest).where(
            index_generations.c.name == self.name, index_generations.c.generation == generation
        )
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar()
        return None if value is None else str(value)

    def published(self) -> list[Published]:
        """Every generation still published, oldest first."""
        stmt = (select(index_generations.c.generation, index_generations.c.manifest)
                .where(index_generations.c.name == self.name).order_by(index_generations.c.generation))
        with self.engine.connect() as conn:
            return [Published(int(row.generation), str(row.manifest)) for row in conn.execute(stmt)]

    def advance(self, expected: int, new: int, manifest: str) -> bool:
        """Point readers at generation `new` (manifest object `manifest`) if the pointer is still at `expected`;
        False when another writer moved it first (then nothing changed)."""
        if new <= expected:
            raise ValueError(f"a new generation must be newer than {expected}, got {new}")
        now = self._clock()
        try:
            with self.engine.begin() as conn:
                if expected == 0:  # the first publish creates the row; a second first publish hits the primary key
                    conn.execute(insert(index_state).values(name=self.name, generation=new, manifest=manifest,
                                                            updated_at=now))
                else:
                    moved = conn.execute(
                        update(index_state)
                        .where(index_state.c.name == self.name, index_state.c.generation == expected)
                        .values(generation=new, manifest=manifest, updated_at=now)
                    ).rowcount
                    if moved != 1:
                        return False
                conn.execute(insert(index_generations).values(name=self.name, generation=new, manifest=manifest,
                                                              published_at=now))
        except IntegrityError:
            return False
        return True

    def forget(self, generations: Iterable[int]) -> int:
        """Drop published generations (never the current one); returns how many rows went."""
        doomed = sorted(set(generations) - {self.current()})
        if not doomed:
            return 0
        stmt = delete(index_generations).where(
            index_generations.c.name == self.name, index_generations.c.generation.in_(doomed)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)
