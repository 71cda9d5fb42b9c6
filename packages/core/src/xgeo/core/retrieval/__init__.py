"""Exact nearest-neighbour search and the ranks of known positives, in bounded memory.

Scores are computed one block (a chunk of queries x a chunk of the gallery) at a time; the N x M
score matrix never exists, and the gallery may be streamed from a feature file. Every score is
computed **exactly once**, by the block that holds it, and the scores of a query's positives
and semi-positives are read out of those same blocks, whatever the chunk sizes.

- :mod:`~xgeo.core.retrieval.options`: :class:`SearchOptions` (block sizes, memory, device, engine, dtype);
- :mod:`~xgeo.core.retrieval.engines`: the :class:`Engine` interface, NumPy and torch engines;
- :mod:`~xgeo.core.retrieval.gallery`: the gallery in memory or streamed, identical rows grouped;
- :mod:`~xgeo.core.retrieval.counting`: exact counting against positives (error bands, positions);
- :mod:`~xgeo.core.retrieval.searcher`: :class:`Searcher`, :func:`rank_positives`, :func:`search`;
- :mod:`~xgeo.core.retrieval.ranking`: the :class:`Ranking` result.

Similarities: ``"cosine"`` (rows L2-normalised first, unless the caller says they already
are), ``"dot"`` and ``"neg_sq_l2"`` (``-||q - g||^2 = 2 q.g - ||q||^2 - ||g||^2``).
"""

from xgeo.core.retrieval.engines import ENGINES, Engine, NumpyEngine, make_engine, to_numpy
from xgeo.core.retrieval.options import (
    DEFAULT_CACHE_BYTES,
    DEFAULT_GALLERY_CHUNK,
    DEFAULT_QUERY_CHUNK,
    SIMILARITIES,
    NonFiniteFeaturesError,
    SearchOptions,
)
from xgeo.core.retrieval.ranking import Ranking
from xgeo.core.retrieval.searcher import Searcher, rank_positives, search

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_GALLERY_CHUNK",
    "DEFAULT_QUERY_CHUNK",
    "ENGINES",
    "SIMILARITIES",
    "Engine",
    "NonFiniteFeaturesError",
    "NumpyEngine",
    "Ranking",
    "SearchOptions",
    "Searcher",
    "make_engine",
    "rank_positives",
    "search",
    "to_numpy",
]
