"""Tokenising into ids, the Bayesian GRU's variational dropout and the skip-thoughts loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xgeo.core.datasets.vocab import UNK, Vocabulary
from xgeo.core.errors import XgeoError
from xgeo.hvsa.text import BayesianGRU, TextEncoder, encode_batch, load_skipthoughts

VOCAB = Vocabulary({"lake": 1, "two": 2, "buildings": 3, UNK: 4})


def test_encode_batch_pads_maps_unknown_and_stopwords_and_keeps_blank_captions():
    ids, lengths = encode_batch(VOCAB, ["Two buildings near the lake.", "", "lake"])
    assert lengths.tolist() == [5, 1, 1]  # a blank caption is one padding id
    assert ids.tolist() == [[2, 3, 4, 4, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]  # "near" unknown, "the" a stopword


def test_dropout_mask_is_shared_across_time_steps():
    torch.manual_seed(0)
    gru = BayesianGRU(6, 5, dropout=0.5).train()
    with torch.no_grad():
        gru.weight_hh.zero_()  # the hidden state does not feed the gates: each step sees only its (masked) input
        gru.bias_ih[1].fill_(-50.0)  # z ≈ 0: h_t = n_t = tanh(W_n x̃_t + b_n)
    x = torch.randn(3, 1, 6).expand(3, 7, 6)  # the same input at every step
    out = gru(x)
    # one mask for the whole sequence: every step's output is the same ...
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)
    # ... and it is a real mask: it differs from no dropout and from another forward pass
    assert not torch.allclose(out, gru.eval()(x), atol=1e-4)
    assert not torch.allclose(gru.train()(x), out, atol=1e-4)


def test_dropout_masks_are_inverted_and_off_in_eval():
    gru = BayesianGRU(4, 3, dropout=0.25).train()
    mi, mh = gru.masks(1000, torch.device("cpu"))
    assert mi.shape == (3, 1000, 4) and mh.shape == (3, 1000, 3)
    values = mi.unique()
    assert len(values) == 2 and values[0] == 0.0 and abs(float(values[1]) - 1 / 0.75) < 1e-6
    assert abs(float(mi.mean()) - 1.0) < 0.05
    assert gru.eval().masks(4, torch.device("cpu")) is None


def test_gru_step_by_hand_without_dropout():
    torch.manual_seed(1)
    gru = BayesianGRU(2, 2, dropout=0.0).eval()
    x = torch.randn(1, 2, 2)
    h = torch.zeros(2)
    for t in range(2):
        pre = [gru.weight_ih[g] @ x[0, t] + gru.bias_ih[g] for g in range(3)]
        rec = [gru.weight_hh[g] @ h for g in range(3)]
        r, z = torch.sigmoid(pre[0] + rec[0]), torch.sigmoid(pre[1] + rec[1])
        n = torch.tanh(pre[2] + r * rec[2])
        h = (1 - z) * n + z * h
    assert torch.allclose(gru(x)[0, -1], h, atol=1e-6)


def test_text_encoder_takes_the_last_valid_step_and_is_non_negative():
    torch.manual_seed(2)
    enc = TextEncoder(VOCAB.size, word_dim=4, hidden_dim=6, embed_dim=3, dropout=0.25).eval()
    ids, lengths = encode_batch(VOCAB, ["two buildings", "two buildings lake lake"])
    out = enc(ids, lengths)
    alone = enc(*encode_batch(VOCAB, ["two buildings"]))
    assert torch.allclose(out[0], alone[0], atol=1e-6)  # padding after the end changes nothing
    assert (out >= 0).all() and out.shape == (2, 3)
    assert enc.embedding.weight[0].abs().sum() == 0


def _fake_release(folder, words, d, h, rng):
    folder.mkdir()
    (folder / "dictionary.txt").write_text("\n".join(words) + "\n")
    np.save(folder / "utable.npy", rng.standard_normal((len(words), 1, d)).astype(np.float32))
    np.savez(folder / "uni_skip.npz", encoder_W=rng.standard_normal((d, 2 * h)), encoder_b=rng.standard_normal(2 * h),
             encoder_U=rng.standard_normal((h, 2 * h)), encoder_Wx=rng.standard_normal((d, h)),
             encoder_bx=rng.standard_normal(h), encoder_Ux=rng.standard_normal((h, h)))


def test_skipthoughts_loader_maps_words_and_gates(tmp_path):
    rng = np.random.default_rng(0)
    d, h = 4, 3
    _fake_release(tmp_path / "st", ["UNK", "<eos>", "lake", "buildings"], d, h, rng)
    enc = TextEncoder(VOCAB.size, word_dim=d, hidden_dim=h, embed_dim=2)
    assert load_skipthoughts(enc, VOCAB, tmp_path / "st") == 2  # "lake", "buildings"; "two" is not in the dictionary
    table = np.load(tmp_path / "st" / "utable.npy")[:, 0]
    emb = enc.embedding.weight.detach().numpy()
    assert np.allclose(emb[1], table[2]) and np.allclose(emb[3], table[3])
    assert np.allclose(emb[2], table[0]) and np.allclose(emb[4], table[0])  # unknown words and <unk>: the UNK row
    with np.load(tmp_path / "st" / "uni_skip.npz") as npz:
        assert np.allclose(enc.gru.weight_ih[1].detach().numpy(), npz["encoder_W"][:, h:].T)
        assert np.allclose(enc.gru.weight_hh[2].detach().numpy(), npz["encoder_Ux"].T)
        assert np.allclose(enc.gru.bias_ih[0].detach().numpy(), npz["encoder_b"][:h])


def test_skipthoughts_loader_errors(tmp_path):
    enc = TextEncoder(VOCAB.size, word_dim=4, hidden_dim=3, embed_dim=2)
    with pytest.raises(XgeoError, match="no skip-thoughts dictionary.txt"):
        load_skipthoughts(enc, VOCAB, tmp_path)
    _fake_release(tmp_path / "st", ["UNK", "lake"], 5, 3, np.random.default_rng(0))
    with pytest.raises(XgeoError, match="encoder_W has shape"):
        load_skipthoughts(enc, VOCAB, tmp_path / "st")
