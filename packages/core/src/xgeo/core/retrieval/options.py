"""How a search runs: block sizes, memory budget, device, engine and dtype, as one value."""

from __future__ import annotations

from dataclasses import dataclass, field

from xgeo.core.checks import Check, check_fields, device, positive

SIMILARITIES = ("cosine", "dot", "neg_sq_l2")
DTYPES = ("float32", "float64")
DEFAULT_QUERY_CHUNK = 1024
DEFAULT_GALLERY_CHUNK = 4096
DEFAULT_CACHE_BYTES = 256 * 2**20

dtype_name = Check(f"be one of {', '.join(DTYPES)}", lambda v: v in DTYPES)


class NonFiniteFeaturesError(ValueError):
    """Features handed to the search contain NaN or inf (``side`` is "query" or "gallery")."""

    def __init__(self, side: str) -> None:
        self.side = side
        super().__init__(f"{side} features contain NaN or inf")


@dataclass(frozen=True)
class SearchOptions:
    """Options of an exact chunked search; none of them changes what is counted, only how.

    ``query_chunk`` x ``gallery_chunk`` is the shape of one score block. ``cache_bytes`` is the
    working-memory budget: the query rows held while the gallery is streamed once (a "pass") and
    the near-tie scores kept until the thresholds are known. ``device`` is ``None``/``"auto"``
    (CPU, or the CUDA device of CUDA tensors), ``"cpu"`` or ``"cuda[:N]"``; ``engine`` is
    ``"auto"``, ``"numpy"`` or ``"torch"``; ``dtype`` is the block dtype.
    """

    query_chunk: int = field(default=DEFAULT_QUERY_CHUNK, metadata={"check": positive})
    gallery_chunk: int = field(default=DEFAULT_GALLERY_CHUNK, metadata={"check": positive})
    cache_bytes: int = field(default=DEFAULT_CACHE_BYTES, metadata={"check": positive})
    device: str | None = field(default=None, metadata={"check": device})
    engine: str = "auto"
    dtype: str = field(default="float32", metadata={"check": dtype_name})

    def __post_init__(self) -> None:
        check_fields(self, "SearchOptions")
