"""Caption vocabularies in AMFMN's format (RSITMD, RSICD): tokenising, building, reading, writing.

The AMFMN vocabulary JSON is ``{"word2idx": {word: id}, "idx2word": {"id": word}, "idx": next}``
with ids starting at **1** (0 is padding) and ``<unk>`` as the last word. It is built from the
training captions: lower-cased, tokenised, punctuation and English stopwords dropped, words seen
at least ``min_count`` times kept (5 in AMFMN). When a caption is encoded every word outside the
vocabulary, stopwords included, becomes ``<unk>``.

Tokenising: AMFMN calls ``nltk.word_tokenize``; we use a regular expression that splits the same
way on these captions (words, numbers, and every punctuation mark as its own token), so no NLTK
data is needed.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from xgeo.core.errors import XgeoError
from xgeo.core.io import read_json, write_json

UNK = "<unk>"
PAD_ID = 0
#: tokens AMFMN removes before looking words up
PUNCTUATION = frozenset(", . : ; ? ( ) [ ] & ! * @ # $ % ' \" - / `".split())
#: English function words (the usual stopword list); never kept in a vocabulary
STOPWORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is
    are was were be been being have has had having do does did doing a an the and but if or because as until
    while of at by for with about against between into through during before after above below to from up
    down in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just don should now
    d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn
    weren won wouldn
    """.split()
)
_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of a caption, punctuation removed (stopwords kept)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in PUNCTUATION]


@dataclass
class Vocabulary:
    """Word -> 1-based id, ``<unk>`` last; id 0 is padding."""

    word2idx: dict[str, int]

    def __post_init__(self) -> None:
        if UNK not in self.word2idx:
            self.word2idx[UNK] = max(self.word2idx.values(), default=0) + 1
        ids = sorted(self.word2idx.values())
        if ids and ids[0] < 1:
            raise ValueError("vocabulary ids start at 1 (0 is padding)")

    def __len__(self) -> int:
        return len(self.word2idx)

    def __contains__(self, word: str) -> bool:
        return word in self.word2idx

    @property
    def unk_id(self) -> int:
        return self.word2idx[UNK]

    @property
    def size(self) -> int:
        """Rows an embedding table needs: the largest id + 1 (row 0 is padding)."""
        return max(self.word2idx.values()) + 1

    def encode(self, text: str) -> list[int]:
        """Ids of a caption's tokens; unknown words and stopwords become ``<unk>``."""
        unk = self.unk_id
        return [self.word2idx.get(t, unk) if t not in STOPWORDS else unk for t in tokenize(text)]

    def to_amfmn(self) -> dict:
        """The AMFMN JSON object (``word2idx``, ``idx2word`` with string keys, ``idx``)."""
        return {
            "word2idx": dict(self.word2idx),
            "idx2word": {str(i): w for w, i in self.word2idx.items()},
            "idx": max(self.word2idx.values()) + 1,
        }

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 5) -> Vocabulary:
        """AMFMN's rule: non-stopword tokens seen ``>= min_count`` times, in first-seen order, then ``<unk>``."""
        counts = Counter(t for c in captions for t in tokenize(c) if t not in STOPWORDS)
        kept = [w for w, n in counts.items() if n >= min_count]
        return cls({w: i for i, w in enumerate(kept, start=1)})

    @classmethod
    def from_mapping(cls, data: Mapping, source: str | os.PathLike | None = None) -> Vocabulary:
        """From an AMFMN JSON object; a malformed one is a one-line error naming ``source``."""
        table = data.get("word2idx") if isinstance(data, Mapping) else None
        if not isinstance(table, Mapping) or not table:
            raise XgeoError(source, "not an AMFMN vocabulary (no word2idx object)", "pass a *_splits_vocab.json file")
        try:
            word2idx = {str(w): int(i) for w, i in table.items()}
        except (TypeError, ValueError):
            raise XgeoError(source, "word2idx holds a non-integer id", "pass a *_splits_vocab.json file") from None
        if min(word2idx.values()) < 1 or len(set(word2idx.values())) != len(word2idx):
            raise XgeoError(source, "word2idx ids must be distinct and start at 1", "pass a *_splits_vocab.json file")
        return cls(word2idx)

    @classmethod
    def read(cls, path: str | os.PathLike) -> Vocabulary:
        """Read an AMFMN vocabulary JSON file."""
        return cls.from_mapping(read_json(path), path)

    def write(self, path: str | os.PathLike) -> None:
        """Write the AMFMN JSON (atomically)."""
        write_json(path, self.to_amfmn())
