"""KEA, the dual encoder and checkpoints."""

from __future__ import annotations

import pytest
import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import save_torch
from xgeo.hvsa.kea import KEA
from xgeo.hvsa.model import HVSA, ModelSpec
from xgeo.hvsa.weights import load_model

WORDS = {"lake": 1, "two": 2, "buildings": 3, "<unk>": 4}


def tiny_spec(**kw) -> ModelSpec:
    return ModelSpec(word2idx=dict(WORDS), image_size=32, word_dim=8, hidden_dim=12, embed_dim=6, **kw)


def test_kea_double_normalisation_and_shape():
    torch.manual_seed(0)
    kea = KEA(16, 4).eval()
    x = torch.randn(2, 16, 3, 3)
    attn = kea.attention(x)
    assert attn.shape == (2, 4, 9)
    assert torch.allclose(attn.sum(dim=1), torch.ones(2, 9), atol=1e-6)  # each position's units sum to 1
    assert kea(x).shape == x.shape and (kea(x) >= 0).all()


def test_kea_memories_stay_tied_through_training():
    torch.manual_seed(0)
    kea = KEA(8, 4, tied=True)
    assert sum(p.numel() for n, p in kea.named_parameters() if n.startswith("memory")) == 4 * 8
    opt = torch.optim.AdamW(kea.parameters(), 1e-2)
    kea(torch.randn(2, 8, 2, 2)).sum().backward()
    opt.step()
    assert torch.equal(kea.value_memory, kea.memory_key.t())
    untied = KEA(8, 4, tied=False)
    assert torch.equal(untied.value_memory, untied.memory_key.t())  # initialised to M_kᵀ ...
    opt = torch.optim.AdamW(untied.parameters(), 1e-2)
    untied(torch.randn(2, 8, 2, 2)).sum().backward()
    opt.step()
    assert not torch.equal(untied.value_memory, untied.memory_key.t())  # ... then free


def test_model_encodes_images_and_sentences_into_one_space():
    torch.manual_seed(0)
    model = HVSA(tiny_spec()).eval()
    images, texts = model(torch.randn(3, 3, 32, 32), ["two buildings", "", "a lake"])
    assert images.shape == texts.shape == (3, 6)
    assert (texts >= 0).all()
    assert model.similarity(images, texts).shape == (3, 3)


def test_checkpoint_carries_spec_and_vocabulary(tmp_path):
    torch.manual_seed(0)
    model = HVSA(tiny_spec()).eval()
    path = tmp_path / "m.pth.tar"
    save_torch({"state_dict": model.state_dict()}, path)
    loaded, _ = load_model(path)
    assert loaded.spec == model.spec and loaded.vocab.word2idx == WORDS
    assert torch.allclose(loaded.encode_sentences(["two lake"]), model.encode_sentences(["two lake"]))
    save_torch({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(XgeoError, match="not an HVSA checkpoint"):
        load_model(tmp_path / "other.pth")
    state = model.state_dict()
    state["text_encoder.project.bias"] = torch.full_like(state["text_encoder.project.bias"], float("nan"))
    save_torch({"state_dict": state}, tmp_path / "nan.pth")
    with pytest.raises(XgeoError, match="NaN"):
        load_model(tmp_path / "nan.pth")


def test_model_needs_a_vocabulary():
    with pytest.raises(XgeoError, match="vocabulary"):
        HVSA(ModelSpec())
