"""Mining samplers: batch structure, dealing to ranks, VIGOR overlap rule, state round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xgeo.frgeo.mining import PairMiningSampler, VigorMiningSampler


def filled_pair_sampler(n: int = 64, batch: int = 8, seed: int = 0) -> PairMiningSampler:
    pairs = np.stack([np.arange(n), np.arange(n)], 1)
    sampler = PairMiningSampler(pairs, n, n, batch_size=batch, dim=8, seed=seed, top_k=5)
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, 8, generator=g)
    sampler.update(torch.arange(n), emb + 0.01 * torch.randn(n, 8, generator=g), emb)
    return sampler


def test_epoch_zero_is_a_plain_shuffle_of_whole_batches():
    sampler = filled_pair_sampler(n=70, batch=8)
    sampler.set_epoch(0)
    order = list(sampler)
    assert len(order) == len(sampler) == 64 and len(set(order)) == 64


def test_mined_batches_are_half_anchors_half_hard_negatives():
    sampler = filled_pair_sampler()
    sampler.set_epoch(1)
    order = np.asarray(list(sampler))
    assert len(order) == 64
    anchors = order.reshape(-1, 8)[:, :4].ravel()
    assert len(set(anchors.tolist())) == 32  # half the pairs serve as anchors
    ground, aerial = sampler.bank.ground, sampler.bank.aerial
    sim = ground @ aerial.t()
    top5 = sim.topk(5, dim=1).indices
    for batch in order.reshape(-1, 8):
        assert len(set(batch.tolist())) == 8  # no repeats inside a batch
        for a, neg in zip(batch[:4], batch[4:], strict=True):
            assert neg in top5[a].tolist()  # each negative comes from its anchor's top-k


def test_global_batches_are_dealt_round_robin(monkeypatch):
    sampler = filled_pair_sampler()
    sampler.set_epoch(1)
    whole = list(sampler)
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        local = list(sampler)
        assert len(local) == len(sampler) == 32
        assert local == whole[rank::2]
        # a rank's local batch of 4 holds two anchors and exactly their two negatives
        first = local[:4]
        assert first == [whole[rank], whole[rank + 2], whole[rank + 4], whole[rank + 6]]


def test_state_round_trip_restores_bank_and_current_order():
    sampler = filled_pair_sampler(seed=3)
    sampler.set_epoch(2)
    order = list(sampler)
    state = sampler.state_dict()
    sampler.update(torch.arange(64), torch.randn(64, 8), torch.randn(64, 8))  # bank moves on mid-epoch
    fresh = PairMiningSampler(sampler.pairs, 64, 64, batch_size=8, dim=8, seed=3, top_k=5)
    fresh.load_state_dict(state)
    fresh.set_epoch(2)
    assert list(fresh) == order  # resumed mid-epoch: same batches
    assert torch.equal(fresh.bank.ground, state["bank"]["ground"])
    fresh.set_epoch(3)
    assert list(fresh) != order


def vigor_world(side: int = 14, panos_per_tile: int = 2, seed: int = 0):
    """Tiles on a half-overlapping grid; each panorama's 4 labels are the tiles covering it."""
    rng = np.random.default_rng(seed)
    tile = {(i, j): i * side + j for i in range(side) for j in range(side)}
    labels, pairs = [], []
    for (i, j), a in tile.items():
        if i in (0, side - 1) or j in (0, side - 1):
            continue
        for _ in range(panos_per_tile):
            di, dj = rng.choice([-1, 1], size=2)
            semis = [tile[(i + di, j)], tile[(i, j + dj)], tile[(i + di, j + dj)]]
            pairs.append((len(labels), a))
            labels.append([a, *semis])
    coords = np.array([(i, j) for (i, j) in tile], dtype=np.float32)
    return np.asarray(pairs), np.asarray(labels), len(tile), coords


def test_vigor_miner_never_puts_label_overlapping_pairs_in_a_batch():
    pairs, labels, num_gallery, coords = vigor_world()
    batch = 16
    sampler = VigorMiningSampler(pairs, labels, num_gallery, batch_size=batch, dim=16, seed=0, top_k=20)
    # embeddings that vary smoothly over the map, so a tile's nearest neighbours are its neighbours
    freqs = torch.randn(2, 8, generator=torch.Generator().manual_seed(0)) * 0.4

    def embed(xy: np.ndarray) -> torch.Tensor:
        z = torch.from_numpy(xy).float() @ freqs
        return torch.cat([z.sin(), z.cos()], 1)

    pano_xy = coords[labels[:, 0]] + 0.25
    sampler.bank.update(
        torch.from_numpy(pairs[:, 0]), torch.from_numpy(pairs[:, 1]), embed(pano_xy[pairs[:, 0]]), embed(coords[pairs[:, 1]])
    )

    label_sets = [set(row.tolist()) for row in labels]
    for epoch in (1, 2):
        sampler.set_epoch(epoch)
        order = np.asarray(list(sampler))
        assert len(order) == sampler.epoch_size() == (2 * len(np.unique(pairs[:, 1])) // batch) * batch
        for b in order.reshape(-1, batch):
            panos = pairs[b, 0]
            for k in range(batch // 2, batch):  # every mined negative
                for other in range(batch):
                    if other != k:
                        assert not (label_sets[panos[k]] & label_sets[panos[other]])
        assert sampler.fallbacks < len(order) // 4

    # the rule matters here: the anchors' nearest aerials do overlap their own labels
    top = sampler.bank.top_candidates(pairs[:, 0], np.random.default_rng(0), top_k=5)
    assert any(set(t.tolist()) & label_sets[p] - {labels[p, 0]} for p, t in zip(pairs[:, 0], top, strict=True))


def test_mining_on_a_partly_filled_bank_never_returns_an_unfilled_row():
    """Half the bank is filled with aerial embeddings pointing away from every ground embedding, so
    an unfilled (zero) row would score 0, above every filled row: it must still never be a candidate."""
    n, batch = 32, 8
    pairs = np.stack([np.arange(n), np.arange(n)], 1)
    sampler = PairMiningSampler(pairs, n, n, batch_size=batch, dim=8, seed=0, top_k=5)
    g = torch.Generator().manual_seed(0)
    direction = torch.zeros(8)
    direction[0] = 1.0
    filled = torch.arange(0, n, 2)  # every other pair
    ground = direction + 0.1 * torch.randn(n, 8, generator=g)
    sampler.update(filled, ground[filled], -direction + 0.1 * torch.randn(len(filled), 8, generator=g))
    sampler.bank.ground[:] = F.normalize(ground, dim=1)  # every anchor has a ground embedding
    filled_rows = set(filled.tolist())
    top = sampler.bank.top_candidates(np.arange(n), np.random.default_rng(0), top_k=5)
    assert top.shape == (n, 5) and set(top.ravel().tolist()) <= filled_rows
    top = sampler.bank.top_candidates(np.arange(n), np.random.default_rng(1), pool_size=6, top_k=100)
    assert top.shape == (n, 6) and set(top.ravel().tolist()) <= filled_rows  # a pool drawn among filled rows only
    sampler.set_epoch(1)
    order = np.asarray(list(sampler)).reshape(-1, batch)
    assert sampler.fallbacks == 0 and set(order[:, batch // 2 :].ravel().tolist()) <= filled_rows


def test_vigor_items_visit_covered_aerials_twice():
    pairs, labels, num_gallery, _ = vigor_world(side=8)
    sampler = VigorMiningSampler(pairs, labels, num_gallery, batch_size=4, dim=4, seed=1)
    sampler.set_epoch(0)
    order = np.asarray(list(sampler))
    covered = np.unique(pairs[:, 1])
    assert sampler.num_items() == 2 * len(covered)
    counts = np.bincount(pairs[order, 1], minlength=num_gallery)[covered]
    assert counts.max() == 2 and counts.sum() == len(order)


def test_odd_batch_is_rejected_only_when_mining():
    with pytest.raises(ValueError):
        PairMiningSampler(np.zeros((4, 2)), 4, 4, batch_size=5, dim=2)
    PairMiningSampler(np.zeros((4, 2)), 4, 4, batch_size=5, dim=2, mining=False)  # plain shuffles take any size
