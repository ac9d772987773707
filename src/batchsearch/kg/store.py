"""The knowledge graph: entities and sources kept as JSON lines in a folder, looked up in memory.

Folder layout (format version 1):

    manifest.json          {"format_version": 1, "built_from": {...}, "counts": {...}}
    entities.jsonl         the default graph (rebuildable from pytickersymbols)
    sources.jsonl          the default sources
    user_entities.jsonl    entities added with add_entities, appended; a later line wins
    user_sources.jsonl     sources added with add_sources, appended; a later line wins

Rebuilding the default graph rewrites only the first three files, so user data survives it.
Lines another process appends to the user files (`batchsearch kg load` beside a running server) are
taken in by refresh(), which the API's knowledge-graph routes and detector() call: no restart needed.
Removing user lines, or rebuilding the default graph, takes effect when the graph is opened again.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Collection, Container, Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from batchsearch.errors import ConflictError, NotFoundError, ValidationError
from batchsearch.kg.codec import entity_from_json, entity_to_json, source_from_json, source_to_json
from batchsearch.kg.ids import allocate_entity_id, allocate_source_id, source_key
from batchsearch.kg.lookup import CompanyIndex, search_sources
from batchsearch.kg.model import SOURCE_RANKS, Entity, EntityCategory, Source
from batchsearch.kg.sectors import SECTORS

if TYPE_CHECKING:
    from batchsearch.kg.detect import EntityDetector

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BASE_ENTITIES = "entities.jsonl"
BASE_SOURCES = "sources.jsonl"
USER_ENTITIES = "user_entities.jsonl"
USER_SOURCES = "user_sources.jsonl"
_ID_PATTERN = re.compile(r"^[0-9A-Z]{6}$")


@functools.cache
def _default_entities() -> tuple[Entity, ...]:
    """The default graph's entities, built once per process: they depend only on the installed pytickersymbols,
    and building them takes seconds (every fresh data folder a process opens would build them again)."""
    from batchsearch.kg.build import build_default_entities

    return tuple(build_default_entities())


def _built_from() -> dict[str, str]:
    return {"pytickersymbols": metadata.version("pytickersymbols")}


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _read_tail(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The complete JSON lines of `path` after byte `offset`, and the offset just past the last of them."""
    try:
        if path.stat().st_size <= offset:
            return [], offset
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written is left for the next call
    return [json.loads(line) for line in data[:end].splitlines() if line.strip()], offset + end


def _write_atomic(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


class KnowledgeGraph:
    """Entities (companies, people, places, concepts, ...) and sources, with lookups and detection."""

    def __init__(self, folder: Path, entities: Iterable[Entity], sources: Iterable[Source]) -> None:
        """Hold these records for `folder`; use open(), build_default() or open_or_build() instead."""
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._entities: dict[str, Entity] = {}
        self._sources: dict[str, Source] = {}
        self._keys: dict[str, str] = {}
        self._source_keys: dict[str, str] = {}
        self._detector: EntityDetector | None = None
        self._offsets = {USER_ENTITIES: 0, USER_SOURCES: 0}  # bytes of the user files already taken in
        self._put_entities(entities)
        self._put_sources(sources)
        self._reindex()

    # --- opening and building -------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path | str) -> KnowledgeGraph:
        """Load the graph kept in `folder`; NotFoundError if there is none, ConflictError if too old."""
        folder = Path(folder)
        manifest = cls._manifest(folder)
        if manifest is None:
            raise NotFoundError(f"No knowledge graph in {folder}: build it first")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ConflictError(
                f"Knowledge graph in {folder} has format version {manifest.get('format_version')}, "
                f"this version reads {FORMAT_VERSION}: rebuild it"
            )
        user_entities, entities_end = _read_tail(folder / USER_ENTITIES, 0)
        user_sources, sources_end = _read_tail(folder / USER_SOURCES, 0)
        entities = [entity_from_json(row) for row in (*_read_jsonl(folder / BASE_ENTITIES), *user_entities)]
        sources = [source_from_json(row) for row in (*_read_jsonl(folder / BASE_SOURCES), *user_sources)]
        graph = cls(folder, entities, sources)
        graph._offsets = {USER_ENTITIES: entities_end, USER_SOURCES: sources_end}
        return graph

    @classmethod
    def build_default(cls, folder: Path | str) -> KnowledgeGraph:
        """Build the default graph from pytickersymbols into `folder` (keeping user files) and open it."""
        from batchsearch.kg.sources import default_sources

        return cls._write_base(Path(folder), _default_entities(), default_sources(), _built_from())

    @classmethod
    def create_empty(cls, folder: Path | str) -> KnowledgeGraph:
        """A graph with no built-in entities or sources in `folder` (keeping user files), opened."""
        return cls._write_base(Path(folder), [], [], {})

    @classmethod
    def _write_base(cls, folder: Path, entities: Sequence[Entity], sources: Sequence[Source],
                    built_from: dict[str, str]) -> KnowledgeGraph:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / ".lock")):
            _write_atomic(folder / BASE_ENTITIES, (entity_to_json(e) for e in entities))
            _write_atomic(folder / BASE_SOURCES, (source_to_json(s) for s in sources))
            manifest = {"format_version": FORMAT_VERSION, "built_from": built_from,
                        "counts": {"entities": len(entities), "sources": len(sources)}}
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return cls.open(folder)

    @classmethod
    def open_or_build(cls, folder: Path | str) -> KnowledgeGraph:
        """Open the graph in `folder`, (re)building the default graph when missing or out of date.

        A default graph built from another pytickersymbols version is rebuilt (ids stay the same);
        a graph made with create_empty() is left empty.
        """
        manifest = cls._manifest(Path(folder))
        if manifest is None or manifest.get("format_version") != FORMAT_VERSION:
            return cls.build_default(folder)
        if manifest.get("built_from") and manifest["built_from"] != _built_from():
            return cls.build_default(folder)
        return cls.open(folder)

    @staticmethod
    def _manifest(folder: Path) -> dict[str, Any] | None:
        path = folder / MANIFEST
        if not path.exists():
            return None
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return manifest

    # --- entities --------------------------------------------------------------------------

    def get_entity(self, entity_id: str) -> Entity | None:
        """The entity with this id, or None."""
        return self._entities.get(entity_id)

    def fetch_entity(self, entity_id: str) -> Entity:
        """The entity with this id; NotFoundError when there is none."""
        entity = self._entities.get(entity_id)
        if entity is None:
            raise NotFoundError(f"Entity {entity_id} not found")
        return entity

    def entities_by_ids(self, ids: Iterable[str]) -> dict[str, Entity]:
        """The entities among these ids, keyed by id in request order; unknown ids are left out."""
        return {i: self._entities[i] for i in ids if i in self._entities}

    def entities(self, category: EntityCategory | None = None) -> list[Entity]:
        """Every entity (of one category), most popular first."""
        pool = self._ordered if category is None else [e for e in self._ordered if e.category is category]
        return list(pool)

    def companies(self) -> list[Entity]:
        """Every company, most popular first."""
        return self.entities(EntityCategory.COMPANIES)

    def sectors(self) -> list[str]:
        """Sector names accepted by the `sectors` filter: ours, then any others user companies carry."""
        extra = sorted({e.sector for e in self._ordered if e.sector and e.sector not in SECTORS})
        return [*SECTORS, *extra]

    def find_companies(self, query: str | None = None, types: Sequence[str] | None = None,
                       countries: Sequence[str] | None = None, sectors: Sequence[str] | None = None,
                       limit: int = 20) -> list[Entity]:
        """Companies by name, alias, ticker, ISIN, CUSIP, SEDOL, listing or web page, best first."""
        return self._company_index.search(query, types=types, countries=countries, sectors=sectors, limit=limit)

    def find_by_identifier(self, kind: str, values: Sequence[str]) -> dict[str, Entity | None]:
        """Each value of an identifier kind (isin, cusip, sedol, listing, ticker) mapped to its company."""
        return self._company_index.resolve(kind, values)

    # --- sources ---------------------------------------------------------------------------

    def sources(self) -> list[Source]:
        """Every source, best rank first."""
        return list(self._ordered_sources)

    def get_source(self, source_id: str) -> Source | None:
        """The source with this id, or None."""
        return self._sources.get(source_id)

    def fetch_source(self, source_id: str) -> Source:
        """The source with this id; NotFoundError when there is none."""
        source = self._sources.get(source_id)
        if source is None:
            raise NotFoundError(f"Source {source_id} not found")
        return source

    def find_sources(self, query: str | None = None, countries: Sequence[str] | None = None,
                     ranks: Sequence[str] | None = None, categories: Sequence[str] | None = None,
                     packages: Sequence[str] | None = None) -> list[Source]:
        """Sources matching every given criterion, best name match then best rank first."""
        return search_sources(self._ordered_sources, query, countries=countries, ranks=ranks,
                              categories=categories, packages=packages)

    # --- user data -------------------------------------------------------------------------

    def new_entity_id(self, canonical_key: str, reserved: Collection[str] = ()) -> str:
        """The id for a canonical key: the existing one when known, else a fresh one not in use or reserved."""
        known = self._keys.get(canonical_key)
        if known:
            return known
        return allocate_entity_id(canonical_key, _Union(self._entities, reserved))

    def new_source_id(self, name: str, reserved: Collection[str] = ()) -> str:
        """The id for a source name: the existing source's when one has that name, else a fresh one."""
        key = source_key(name)
        known = self._source_keys.get(key)
        if known:
            return known
        return allocate_source_id(key, _Union(self._sources, reserved))

    def add_entities(self, entities: Iterable[Entity]) -> list[Entity]:
        """Add or replace entities (by id) and persist them to user_entities.jsonl."""
        batch = list(entities)
        for entity in batch:
            if not _ID_PATTERN.match(entity.id):
                raise ValidationError(f"Entity id {entity.id!r} is not 6 uppercase letters or digits")
        with self._lock, FileLock(str(self.folder / ".lock")):
            self.folder.mkdir(parents=True, exist_ok=True)
            self._take_appended()  # first what others added, so ours win and the offsets stay right
            self._offsets[USER_ENTITIES] = _append_jsonl(self.folder / USER_ENTITIES,
                                                         (entity_to_json(e) for e in batch))
            self._put_entities(batch)
            self._reindex()
        return batch

    def add_sources(self, sources: Iterable[Source]) -> list[Source]:
        """Add or replace sources (by id) and persist them to user_sources.jsonl."""
        batch = list(sources)
        for source in batch:
            if not _ID_PATTERN.match(source.id):
                raise ValidationError(f"Source id {source.id!r} is not 6 uppercase letters or digits")
            if source.rank not in SOURCE_RANKS:
                raise ValidationError(f"Source rank {source.rank!r} is not one of {', '.join(SOURCE_RANKS)}")
        with self._lock, FileLock(str(self.folder / ".lock")):
            self.folder.mkdir(parents=True, exist_ok=True)
            self._take_appended()
            self._offsets[USER_SOURCES] = _append_jsonl(self.folder / USER_SOURCES,
                                                        (source_to_json(s) for s in batch))
            self._put_sources(batch)
            self._reindex()
        return batch

    def refresh(self) -> bool:
        """Take in the entities and sources other processes appended since; True when there were any."""
        with self._lock:
            return self._take_appended()

    # --- detection -------------------------------------------------------------------------

    def detector(self) -> EntityDetector:
        """An entity detector over the current entities (built once, rebuilt after additions)."""
        from batchsearch.kg.detect import EntityDetector

        self.refresh()
        detector = self._detector
        if detector is None:
            detector = EntityDetector(self._ordered)
            self._detector = detector
        return detector

    # --- internals -------------------------------------------------------------------------

    def _put_entities(self, entities: Iterable[Entity]) -> None:
        for entity in entities:
            self._entities[entity.id] = entity
            if entity.extra.get("key"):
                self._keys[entity.extra["key"]] = entity.id

    def _put_sources(self, sources: Iterable[Source]) -> None:
        for source in sources:
            self._sources[source.id] = source
            self._source_keys[source_key(source.name)] = source.id

    def _take_appended(self) -> bool:
        """Read the user files past what this graph holds; call with self._lock held."""
        entities, self._offsets[USER_ENTITIES] = _read_tail(self.folder / USER_ENTITIES, self._offsets[USER_ENTITIES])
        sources, self._offsets[USER_SOURCES] = _read_tail(self.folder / USER_SOURCES, self._offsets[USER_SOURCES])
        if not entities and not sources:
            return False
        self._put_entities(entity_from_json(row) for row in entities)
        self._put_sources(source_from_json(row) for row in sources)
        self._reindex()
        return True

    def _reindex(self) -> None:
        """Recompute the derived views; each is swapped in whole, so readers never see half of one."""
        self._ordered = sorted(self._entities.values(), key=lambda e: (-e.popularity, e.name, e.id))
        self._ordered_sources = sorted(
            self._sources.values(), key=lambda s: (SOURCE_RANKS.index(s.rank) if s.rank in SOURCE_RANKS else 9, s.name)
        )
        self._company_index = CompanyIndex(e for e in self._ordered if e.category is EntityCategory.COMPANIES)
        self._detector = None


class _Union:
    """Membership in either of two containers, without copying them."""

    def __init__(self, first: Container[str], second: Container[str]) -> None:
        self._first, self._second = first, second

    def __contains__(self, item: object) -> bool:
        return item in self._first or item in self._second


def _append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Append the rows as JSON lines; returns the file's size after them."""
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        return os.fstat(handle.fileno()).st_size
