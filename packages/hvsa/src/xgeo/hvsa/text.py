"""HVSA's text branch: word embeddings, a Bayesian uni-skip GRU and a ReLU projection.

The GRU follows skip-thoughts' ``BayesianUniSkip`` (620 → 2400): for every step

    r = σ(W_r x̃ + b_r + U_r h̃)      z = σ(W_z x̃ + b_z + U_z h̃)
    n = tanh(W_n x̃ + b_n + r ⊙ (U_n h̃))      h = (1 − z) ⊙ n + z ⊙ h_prev

with biases on the input side only. ``x̃`` and ``h̃`` are dropout-masked copies, six masks (input
and hidden, per gate) drawn **once per forward pass and reused at every time step** (variational
dropout, inverted scaling); no masks in eval mode. The sentence vector is ``h`` at each caption's
last valid step; ``ReLU(Linear(h))`` is the text embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from xgeo.core.datasets.vocab import PAD_ID, UNK, Vocabulary
from xgeo.core.errors import XgeoError

GATES = ("r", "z", "n")


class BayesianGRU(nn.Module):
    """A uni-directional GRU with variational dropout (masks shared across time steps)."""

    def __init__(self, input_size: int, hidden_size: int, dropout: float = 0.25) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise XgeoError(None, f"GRU dropout {dropout}", "use a value in [0, 1)")
        self.input_size, self.hidden_size, self.dropout = input_size, hidden_size, float(dropout)
        self.weight_ih = nn.Parameter(torch.empty(3, hidden_size, input_size))
        self.bias_ih = nn.Parameter(torch.zeros(3, hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(3, hidden_size, hidden_size))
        bound = hidden_size**-0.5
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def masks(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``[3, B, input]`` and ``[3, B, hidden]`` inverted-dropout masks (``None`` when not dropping)."""
        if not self.training or self.dropout == 0.0:
            return None
        keep = 1.0 - self.dropout
        sizes = (self.input_size, self.hidden_size)
        draw = [torch.bernoulli(torch.full((3, batch, n), keep, device=device)) / keep for n in sizes]
        return draw[0], draw[1]

    def forward(self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """All hidden states ``[B, T, hidden]`` of ``x`` (``[B, T, input]``); masks drawn here unless given."""
        b, t, _ = x.shape
        if masks is None:
            masks = self.masks(b, x.device)
        # the input side for every step at once: [3, B, T, H]
        if masks is None:
            pre = torch.einsum("bti,ghi->gbth", x, self.weight_ih)
        else:
            pre = torch.einsum("gbi,bti,ghi->gbth", masks[0], x, self.weight_ih)
        pre = pre + self.bias_ih[:, None, None, :]
        h = x.new_zeros(b, self.hidden_size)
        out = []
        for step in range(t):
            hh = h.unsqueeze(0).expand(3, -1, -1) if masks is None else h.unsqueeze(0) * masks[1]
            rec = torch.einsum("gbh,gkh->gbk", hh, self.weight_hh)
            r = torch.sigmoid(pre[0, :, step] + rec[0])
            z = torch.sigmoid(pre[1, :, step] + rec[1])
            n = torch.tanh(pre[2, :, step] + r * rec[2])
            h = (1.0 - z) * n + z * h
            out.append(h)
        return torch.stack(out, dim=1)


class TextEncoder(nn.Module):
    """Caption ids → ``[B, embed_dim]`` (non-negative: ReLU after the projection)."""

    def __init__(self, vocab_rows: int, word_dim: int = 620, hidden_dim: int = 2400, embed_dim: int = 512,
                 dropout: float = 0.25, fixed_emb: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_rows, word_dim, padding_idx=PAD_ID)
        self.embedding.weight.requires_grad_(not fixed_emb)
        self.gru = BayesianGRU(word_dim, hidden_dim, dropout)
        self.project = nn.Linear(hidden_dim, embed_dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states = self.gru(self.embedding(ids))
        last = (lengths.clamp(min=1) - 1).to(states.device)
        sentence = states[torch.arange(len(ids), device=states.device), last]
        return torch.relu(self.project(sentence))


def encode_batch(vocab: Vocabulary, captions: Sequence[str], min_columns: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``[B, T]`` and lengths ``[B]``; an empty caption is one padding id (length 1)."""
    rows = [vocab.encode(c) for c in captions]
    lengths = torch.tensor([max(len(r), 1) for r in rows], dtype=torch.int64)
    width = max([min_columns, *lengths.tolist()]) if rows else min_columns
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.int64)
    for i, r in enumerate(rows):
        if r:
            ids[i, : len(r)] = torch.tensor(r)
    return ids, lengths


# ------------------------------------------------------------------------------------- skip-thoughts
SKIP_FILES = ("dictionary.txt", "utable.npy", "uni_skip.npz")
NPZ_KEYS = ("encoder_W", "encoder_b", "encoder_U", "encoder_Wx", "encoder_bx", "encoder_Ux")


def load_skipthoughts(encoder: TextEncoder, vocab: Vocabulary, folder: str | Path) -> int:
    """Initialise embeddings and GRU from Kiros' uni-skip release in ``folder``; return the words found.

    ``dictionary.txt`` (one word per line) indexes the rows of ``utable.npy``; words it lacks (and
    ``<unk>``) get its ``UNK`` row. ``uni_skip.npz`` holds the Theano GRU: ``encoder_W``/``encoder_U``
    ``[in, 2H]`` (r then z), ``encoder_b`` ``[2H]``, ``encoder_Wx``/``encoder_Ux``/``encoder_bx`` for n.
    """
    folder = Path(folder)
    missing = [f for f in SKIP_FILES if not (folder / f).is_file()]
    if missing:
        raise XgeoError(folder, f"no skip-thoughts {missing[0]} here",
                        f"pass --pretrained-text a folder with {', '.join(SKIP_FILES)}")
    try:
        words = (folder / "dictionary.txt").read_text(encoding="utf-8").splitlines()
        table = np.load(folder / "utable.npy", allow_pickle=False)
        with np.load(folder / "uni_skip.npz", allow_pickle=False) as npz:
            params = {k: npz[k] for k in NPZ_KEYS}
    except (OSError, ValueError, KeyError) as err:
        raise XgeoError(folder, f"unreadable skip-thoughts files ({type(err).__name__}: {err})", "re-download them") from None
    table = table.reshape(table.shape[0], -1)
    gru, emb = encoder.gru, encoder.embedding.weight
    h, d = gru.hidden_size, gru.input_size
    expected = {"encoder_W": (d, 2 * h), "encoder_U": (h, 2 * h), "encoder_b": (2 * h,), "encoder_Wx": (d, h),
                "encoder_Ux": (h, h), "encoder_bx": (h,)}
    for key, want in expected.items():
        if params[key].shape != want:
            raise XgeoError(folder / "uni_skip.npz", f"{key} has shape {params[key].shape}, the model needs {want}",
                            "set model.word_dim / model.hidden_dim to the release's (620 / 2400)")
    if table.shape[1] != d or len(table) != len(words):
        raise XgeoError(folder / "utable.npy", f"table {table.shape} does not match {d}-d words and dictionary.txt",
                        "use the utable.npy and dictionary.txt of one release")
    row = {w: i for i, w in enumerate(words)}
    unk_row = row.get("UNK", 1 if len(words) > 1 else 0)
    found = 0
    with torch.no_grad():
        emb.zero_()
        for word, idx in vocab.word2idx.items():
            r = row.get(word) if word != UNK else None
            found += r is not None
            emb[idx] = torch.from_numpy(np.asarray(table[unk_row if r is None else r], dtype=np.float32))
        w, u, b = params["encoder_W"], params["encoder_U"], params["encoder_b"]
        for g, sl in ((0, slice(0, h)), (1, slice(h, 2 * h))):
            gru.weight_ih[g].copy_(torch.from_numpy(w[:, sl].T.astype(np.float32)))
            gru.weight_hh[g].copy_(torch.from_numpy(u[:, sl].T.astype(np.float32)))
            gru.bias_ih[g].copy_(torch.from_numpy(b[sl].astype(np.float32)))
        gru.weight_ih[2].copy_(torch.from_numpy(params["encoder_Wx"].T.astype(np.float32)))
        gru.weight_hh[2].copy_(torch.from_numpy(params["encoder_Ux"].T.astype(np.float32)))
        gru.bias_ih[2].copy_(torch.from_numpy(params["encoder_bx"].astype(np.float32)))
    return found
