"""Scene graphs on a hand-made 10-candidate case, masked attention, the refinement losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xgeo.cmpc.gnn import SceneGraphNet, masked_attention
from xgeo.cmpc.graph import build_graph
from xgeo.cmpc.refine import ranking_loss, refine_order, refinement_losses, top_candidates

# ten candidates on a line at irregular positions (metres), so that no two distances tie
X = [0.0, 100.0, 230.0, 370.0, 520.0, 700.0, 910.0, 1150.0, 1420.0, 1720.0]


def _case():
    positions = torch.tensor([[x, 5_000_000.0] for x in X])[None]  # UTM-scale northing
    # features: one-hot on a circle of 10 directions; candidate k is nearest (in feature space) to k +- 1 mod 10
    angles = torch.arange(10) * 2 * np.pi / 10
    features = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)[None]
    query = torch.tensor([[1.0, 0.0]])
    return query, features, positions


def _neighbours(adjacency: torch.Tensor, k: int) -> set[int]:
    return set(torch.nonzero(adjacency[0, k]).flatten().tolist())


def test_position_edges_connect_the_five_nearest_in_metres():
    query, features, positions = _case()
    graph = build_graph(query, features, positions, edge_topk=5, mode="position", sigma=100.0)
    assert graph.adjacency.shape == (1, 10, 10) and graph.adjacency.sum(-1).eq(5).all()
    assert not graph.adjacency[0].diagonal().any()
    for k in range(10):
        dist = np.abs(np.array(X) - X[k])
        dist[k] = np.inf
        assert _neighbours(graph.adjacency, k) == set(np.argsort(dist)[:5].tolist()), k
    assert _neighbours(graph.adjacency, 0) == {1, 2, 3, 4, 5}
    assert _neighbours(graph.adjacency, 9) == {4, 5, 6, 7, 8}
    assert _neighbours(graph.adjacency, 4) == {1, 2, 3, 5, 6}  # 370, 230, 100 m one side, 180, 390 the other
    assert graph.weights[0, 0, 1] == pytest.approx(np.exp(-1.0), rel=1e-5)  # exp(-100 m / 100 m)
    assert graph.nodes.shape == (1, 10, 4) and torch.equal(graph.nodes[0, 3], torch.cat([query[0], features[0, 3]]))


def test_feature_edges_follow_feature_distance_not_position():
    query, features, positions = _case()
    graph = build_graph(query, features, positions, edge_topk=2, mode="feature")
    for k in range(10):
        assert _neighbours(graph.adjacency, k) == {(k - 1) % 10, (k + 1) % 10}, k
    # candidate 9 is a feature neighbour of 0 but the farthest by position
    by_position = build_graph(query, features, positions, edge_topk=2, mode="position")
    assert 9 in _neighbours(graph.adjacency, 0) and 9 not in _neighbours(by_position.adjacency, 0)


def test_reference_compat_unit_positions_underflow():
    query, features, positions = _case()
    graph = build_graph(query, features, positions, edge_topk=5, mode="position", reference_compat=True)
    # unit-normalised UTM-scale positions 100 m apart differ by ~2e-5: weights near 1 with sigma 0.0005
    assert 0.9 < float(graph.weights[0, 0, 1]) < 1.0
    assert graph.adjacency.sum(-1).eq(5).all()


def test_masked_attention_respects_the_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, 0, 2] = True  # node 0 listens to node 2 only
    mask[:, 1, [0, 3]] = True
    out = masked_attention(q, k, v, mask, torch.ones(2, 4, 4))
    assert torch.allclose(out[:, 0], v[:, 2])  # one neighbour: weight 1
    assert torch.equal(out[:, 2], torch.zeros(2, 8)) and torch.equal(out[:, 3], torch.zeros(2, 8))  # no edges: nothing
    w = torch.softmax((q[:, 1:2] @ k[:, [0, 3]].transpose(1, 2)) / np.sqrt(8), dim=-1)
    assert torch.allclose(out[:, 1:2], w @ v[:, [0, 3]], atol=1e-6)
    # changing a node outside the mask changes nothing
    v2 = v.clone()
    v2[:, 1] += 100.0
    assert torch.allclose(masked_attention(q, k, v2, mask, torch.ones(2, 4, 4))[:, :2], out[:, :2])


def test_gnn_node_is_blind_to_non_neighbours():
    """With a single block a node's output depends only on itself and its neighbours."""
    torch.manual_seed(0)
    net = SceneGraphNet(in_dim=6, channels=8, blocks=1).eval()
    nodes = torch.randn(1, 5, 6)
    adjacency = torch.zeros(1, 5, 5, dtype=torch.bool)
    adjacency[0, 0, 1] = adjacency[0, 1, 0] = True
    adjacency[0, 2:, 2:] = ~torch.eye(3, dtype=torch.bool)

    def first_two(x):
        h = torch.relu(net.project_bn(net.project(x)))  # graph norm left out: it mixes every node
        block = net.blocks[0]
        f = block.linear(h)
        return masked_attention(f, f, torch.nn.functional.elu(f), adjacency, adjacency.float())[0, :2]

    changed = nodes.clone()
    changed[0, 3] += 5.0
    assert torch.allclose(first_two(nodes), first_two(changed))
    z, u = net(nodes, adjacency)
    assert z.shape == (1, 5, 8) and u.shape == (1, 5)


def test_top_candidates_inject_the_positive_first():
    query = torch.tensor([[1.0, 0.0]])
    gallery = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    assert top_candidates(query, gallery, 3).tolist() == [[0, 1, 2]]
    assert top_candidates(query, gallery, 3, positive=torch.tensor([3])).tolist() == [[3, 0, 1]]


def test_refinement_losses_by_hand():
    scores = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    r = torch.tensor([[0.9, 0.2, 0.7], [0.5, 0.6, 0.1]])
    losses = refinement_losses(scores, r)
    ce = (-np.log(np.exp(2) / (np.exp(2) + 2)) - np.log(1 / 3)) / 2
    assert losses["cls"].item() == pytest.approx(ce, rel=1e-6)
    # per query: max(0, 0.7 - 0.9 + 0.3) = 0.1 and max(0, 0.6 - 0.5 + 0.3) = 0.4
    assert losses["rank"].item() == pytest.approx(0.25)
    # broadcast form of the released code: mean over (i, j) of max(0, neg_j - pos_i + 0.3)
    pairs = [max(0, n - p + 0.3) for p in (0.9, 0.5) for n in (0.7, 0.6)]
    assert ranking_loss(r, reference_compat=True).item() == pytest.approx(np.mean(pairs))


def test_refine_order_sorts_by_refined_similarity():
    class Fixed(torch.nn.Module):
        def forward(self, q, feats, pos):
            r = -pos[..., 0]  # prefers the westmost candidate
            return torch.zeros_like(r), r

    gallery = torch.randn(5, 3)
    positions = torch.tensor([[40.0, 0], [10.0, 0], [30.0, 0], [20.0, 0], [0.0, 0]])
    order = refine_order(Fixed(), torch.randn(2, 3), gallery, positions, np.array([[0, 1, 2], [2, 3, 4]]), batch_size=1)
    assert order.tolist() == [[1, 2, 0], [2, 1, 0]]
