"""Top-k re-ranking and scoring a protocol on a given ranking; parameter groups in the Trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.rerank import coarse_ranking, reorder_top_k, score_ranking
from xgeo.core.task import RetrievalTask
from xgeo.core.train import StepOutput, TrainConfig, Trainer


@pytest.fixture
def case():
    # gallery ids 0..3 on a line 100 m apart; query 0 belongs to id 2, query 1 to id 3
    gallery = np.eye(4, dtype=np.float32)
    query = np.array([[0.9, 0.1, 0.5, 0.0], [0.0, 0.0, 0.0, 0.1]], np.float32)
    task = RetrievalTask.from_labels(["a", "b"], ["0", "1", "2", "3"], [2, 3], [0, 1, 2, 3],
                                     query_locations=[[210.0, 0.0], [300.0, 0.0]],
                                     gallery_locations=[[0.0, 0.0], [100.0, 0.0], [200.0, 0.0], [300.0, 0.0]], crs="metres")
    return query, gallery, task


def test_coarse_ranking_scores_like_evaluate_arrays(case):
    query, gallery, task = case
    ranking = coarse_ranking(query, gallery, task, "sn6", k=3)
    assert ranking.topk_indices[0].tolist() == [0, 2, 1]
    assert ranking.first_rank.tolist() == [1, 0]
    assert score_ranking(ranking, task, "sn6") == pytest.approx(evaluate_arrays(query, gallery, task, "sn6"))


def test_reorder_moves_positives_and_the_top1_location(case):
    query, gallery, task = case
    ranking = coarse_ranking(query, gallery, task, "sn6", k=3)
    # query 0: put its positive (old position 1) first; query 1: reverse its top-3
    refined = reorder_top_k(ranking, task, np.array([[1, 0, 2], [2, 1, 0]]))
    assert refined.topk_indices[0].tolist() == [2, 0, 1]
    assert refined.first_rank[0] == 0
    old_top = ranking.topk_indices[1].tolist()
    assert refined.topk_indices[1].tolist() == old_top[::-1]
    assert refined.first_rank[1] == old_top[::-1].index(3)
    metrics = score_ranking(refined, task, "sn6", thresholds=(15.0,))
    # query 0's new top-1 is id 2 at 200 m: 10 m away from its own position; query 1's top-1 is wrong
    errors = [10.0, abs(300.0 - 100.0 * refined.topk_indices[1, 0])]
    assert metrics["acc@15m"] == 50.0 and metrics["mean_error_m"] == pytest.approx(np.mean(errors))
    assert metrics["MRR"] == pytest.approx(100 * (1 + 1 / (refined.first_rank[1] + 1)) / 2)


def test_reorder_keeps_positives_outside_the_block_below_it(case):
    query, gallery, task = case
    query = np.array([[0.0, 0.0, 0.1, 0.0], [0.9, 0.8, 0.7, 0.0]], np.float32)  # query 1's positive (id 3) is last
    ranking = coarse_ranking(query, gallery, task, "sn6", k=2)
    refined = reorder_top_k(ranking, task, np.array([[1, 0], [1, 0]]))
    assert ranking.first_rank[1] == 3 and refined.first_rank[1] == 3
    with pytest.raises(ValueError, match="permutation"):
        reorder_top_k(ranking, task, np.array([[0, 0], [1, 0]]))


def test_trainer_param_groups_and_nesterov(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    data = [{"x": torch.ones(2)} for _ in range(4)]

    def step(m, batch):
        return StepOutput(loss=m(batch["x"]).sum())

    def groups(m):
        return [{"params": m[0].parameters()}, {"params": m[1].parameters(), "lr": 0.5}]

    config = TrainConfig(out_dir=str(tmp_path), batch_size=2, lr=0.05, optimizer="sgd_nesterov", progress=False)
    trainer = Trainer(model, data, step, config, param_groups=groups)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.05, 0.5]
    assert all(g["nesterov"] for g in trainer.optimizer.param_groups)
    trainer.fit()
    assert trainer.scheduler.base_lrs == [0.05, 0.5]
