"""The search core: filters to masks, lexical and dense retrieval, fusion, ranking, the engine."""
