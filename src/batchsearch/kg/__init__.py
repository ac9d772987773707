"""Knowledge graph: entities (companies, people, places, concepts), sources, lookups and detection."""

from batchsearch.kg.detect import Detection, EntityDetector, company_surface_forms
from batchsearch.kg.ids import entity_id, source_id
from batchsearch.kg.loaders import LoadReport, RowProblem, load_entities, load_sources
from batchsearch.kg.model import SOURCE_RANKS, Entity, EntityCategory, Source
from batchsearch.kg.store import KnowledgeGraph

__all__ = [
    "SOURCE_RANKS",
    "Detection",
    "Entity",
    "EntityCategory",
    "EntityDetector",
    "KnowledgeGraph",
    "LoadReport",
    "RowProblem",
    "Source",
    "company_surface_forms",
    "entity_id",
    "load_entities",
    "load_sources",
    "source_id",
]
