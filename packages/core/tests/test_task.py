import numpy as np
import pytest

from xgeo.core.task import RetrievalTask


def test_one_to_one_relation_is_identity():
    task = RetrievalTask.one_to_one(["q0", "q1", "q2"], ["g0", "g1", "g2"])
    assert (task.relation().toarray() == np.eye(3, dtype=bool)).all()
    assert task.positives(1).tolist() == [1]


def test_label_equality_with_junk():
    task = RetrievalTask.from_labels(["a", "b", "c"], ["x", "y", "z", "w"], [5, 7, -1], [7, 5, -1, 5])
    rel = task.relation().toarray()
    assert rel.tolist() == [[False, True, False, True], [True, False, False, False], [False, False, False, False]]
    assert task.junk_mask.tolist() == [False, False, True, False]


def test_semi_positives_map_to_gallery_indices():
    task = RetrievalTask.with_semi_positives(["p0", "p1"], ["a0", "a1", "a2", "a3"], [2, 0], [[0, 1, 3], [2, -1, -1]])
    assert task.query_labels.tolist() == [2, 0]
    assert task.semi_positive_gallery_indices().tolist() == [[0, 1, 3], [2, -1, -1]]
    with pytest.raises(ValueError):
        task.transposed()


def test_captions_relate_five_per_image_and_transpose():
    task = RetrievalTask.captions(["i0", "i1"], [f"c{i}" for i in range(10)])
    assert task.positives(1).tolist() == [5, 6, 7, 8, 9]
    t2i = task.transposed()
    assert t2i.positives(7).tolist() == [1]


def test_locations_are_checked():
    with pytest.raises(ValueError, match="query_locations"):
        RetrievalTask.one_to_one(["a"], ["b"], query_locations=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="crs"):
        RetrievalTask.one_to_one(["a"], ["b"], crs="feet")
