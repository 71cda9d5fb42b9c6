"""RSITMD / RSICD readers on both forms (precomp text files, Karpathy JSON), the synthetic writers and
the AMFMN vocabulary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from xgeo.core.datasets import RSICD, RSITMD, get_dataset
from xgeo.core.datasets.vocab import UNK, Vocabulary, tokenize
from xgeo.core.errors import DatasetNotFoundError, XgeoError
from xgeo.core.io import read_json
from xgeo.core.synthetic import write_dataset
from xgeo.core.synthetic.captions import TRAIN_FACTOR
from xgeo.core.synthetic.describe import number_word

SIZE = 4  # 4 test images, TRAIN_FACTOR x 4 training images


@pytest.fixture(scope="module")
def rsitmd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset("rsitmd", tmp_path_factory.mktemp("rsitmd"), size=SIZE, seed=1)


@pytest.fixture(scope="module")
def rsicd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset("rsicd", tmp_path_factory.mktemp("rsicd"), size=SIZE, seed=1)


def _json_only(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "json_only"
    shutil.copytree(root, copy)
    for f in copy.glob("*_caps.txt"):
        f.unlink()
    for f in copy.glob("*_filename.txt"):
        f.unlink()
    return copy


def test_precomp_train_and_test_splits(rsitmd_root):
    train = RSITMD(rsitmd_root, "train")
    test = get_dataset("rsitmd", rsitmd_root, "test")
    assert train.form == test.form == "precomp"
    assert (train.num_images, len(train.captions)) == (TRAIN_FACTOR * SIZE, 5 * TRAIN_FACTOR * SIZE)
    # test_filename.txt holds one line per caption: the reader folds every 5 into one image
    assert (test.num_images, len(test.captions)) == (SIZE, 5 * SIZE)
    lines = (rsitmd_root / "test_filename.txt").read_text().splitlines()
    assert test.image_names == lines[::5]
    assert train.captions[4] == ""  # the blank caption keeps its slot
    assert len(train) == 5 * TRAIN_FACTOR * SIZE and train.pairs[7].tolist() == [1, 7]
    assert all(p.parent.name == "images" and p.is_file() for p in train.query_files)
    relation = test.task.relation().toarray()
    expected = np.repeat(np.eye(SIZE, dtype=bool), 5, axis=1)  # image i <-> captions 5i..5i+4
    assert (relation == expected).all()
    sample = train[7]
    assert sample["gallery"] == train.captions[7] and sample["query"].shape[0] == 3
    assert test.gallery()[6] == {"gallery": test.captions[6], "index": 6}


def test_json_form_gives_the_same_split(rsitmd_root, tmp_path):
    copy = _json_only(rsitmd_root, tmp_path)
    for split in ("train", "test"):
        a, b = RSITMD(rsitmd_root, split), RSITMD(copy, split)
        assert b.form == "json"
        assert (a.image_names, a.captions) == (b.image_names, b.captions)
    with pytest.raises(XgeoError, match="no image with split val"):
        RSITMD(copy, "val")


def test_rsicd_train_merges_val_and_reads_its_image_folder(rsicd_root, tmp_path):
    precomp = RSICD(rsicd_root, "train")
    assert all(p.parent.name == "RSICD_images" for p in precomp.query_files)
    copy = _json_only(rsicd_root, tmp_path)
    merged, val = RSICD(copy, "train"), RSICD(copy, "val")
    assert merged.image_names == precomp.image_names
    assert 0 < val.num_images < merged.num_images and set(val.image_names) <= set(merged.image_names)


def test_subset_keeps_each_images_five_captions(rsitmd_root):
    train = RSITMD(rsitmd_root, "train")
    sub = train.subset([3, 0], split="val")
    assert sub.split == "val" and sub.image_names == [train.image_names[3], train.image_names[0]]
    assert sub.captions == train.captions[15:20] + train.captions[0:5]
    assert sub.task.num_gallery == 10


def _precomp(tmp_path: Path, caps: str, names: str) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "train_caps.txt").write_text(caps)
    (tmp_path / "train_filename.txt").write_text(names)
    return tmp_path


def test_hand_written_precomp_with_blank_captions(tmp_path):
    caps = "a b\n\n\n\n\nc d\ne\nf\ng\nh\n"  # image 0: one caption and four blanks; trailing newline not a caption
    root = _precomp(tmp_path, caps, "x_1.tif\ny_2.tif\n")
    split = RSITMD(root, "train")
    assert split.image_names == ["x_1.tif", "y_2.tif"]
    assert split.captions == ["a b", "", "", "", "", "c d", "e", "f", "g", "h"]


@pytest.mark.parametrize(
    ("caps", "names", "match"),
    [
        ("a\nb\nc\n", "x.tif\n", "3 captions for 1 images"),
        ("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "x\nx\nx\nx\nx\ny\ny\nz\ny\ny\n", "block of 5 names differs"),
        ("", "x.tif\n", "caption file is empty"),
    ],
)
def test_malformed_precomp_is_one_line_naming_the_file(tmp_path, caps, names, match):
    root = _precomp(tmp_path, caps, names)
    with pytest.raises(XgeoError, match=match) as err:
        RSITMD(root, "train")
    assert "train_" in str(err.value) and "\n" not in str(err.value)


def test_missing_root_and_split(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="xgeo synth rsitmd"):
        RSITMD(tmp_path / "nowhere", "train")
    with pytest.raises(DatasetNotFoundError):
        RSICD(tmp_path, "test")
    root = _precomp(tmp_path, "a\nb\nc\nd\ne\n", "x.tif\n")
    with pytest.raises(XgeoError, match="no test split"):
        RSITMD(root, "test")


def test_synthetic_captions_describe_their_image(rsitmd_root):
    facts = read_json(rsitmd_root / "synthetic_content.json")["train"]
    split = RSITMD(rsitmd_root, "train")
    for i, f in enumerate(facts):
        text = " ".join(split.captions[5 * i:5 * i + 5]).lower()
        place = f["water_place"]
        assert f"{number_word(f['buildings'])} " in text or (place and (place if place != "centre" else "middle") in text)



def test_every_synthetic_caption_names_count_place_and_absence_in_vocabulary_words():
    import numpy as np

    from xgeo.core.datasets.vocab import STOPWORDS
    from xgeo.core.synthetic.describe import TileFacts, captions

    empty = TileFacts(vegetation=0.9, bare=0.1, water=0.0, road=0.0, building=0.0, buildings=0, roads=0,
                      building_place=None, water_place=None, buildings_by_road=False, buildings_side_of_water=None)
    busy = TileFacts(vegetation=0.2, bare=0.5, water=0.1, road=0.1, building=0.1, buildings=3, roads=2,
                     building_place="northeast", water_place="south", buildings_by_road=True, buildings_side_of_water="north")
    rng = np.random.default_rng(0)
    for sentence in captions(busy, rng, 20):
        words = tokenize(sentence)
        assert "three" in words and "northeast" in words and "two" in words and "south" in words
    for sentence in captions(empty, rng, 20):
        # absence of buildings, roads and water is said with words the AMFMN vocabulary keeps
        kept = [w for w in tokenize(sentence) if w not in STOPWORDS]
        assert {"zero", "without", "roadless", "dry"} & set(kept)
        assert not {"one", "two", "three", "blue", "pond", "lake"} & set(kept)

# ------------------------------------------------------------------------------------------ vocabulary
def test_tokenize_drops_punctuation_and_lowercases():
    assert tokenize("Two  Buildings, near a LAKE.") == ["two", "buildings", "near", "a", "lake"]
    assert tokenize("") == []


def test_vocabulary_build_encode_and_amfmn_json(tmp_path):
    captions = ["The lake is big.", "A big lake and the road.", "lake road", "big lake"]
    vocab = Vocabulary.build(captions, min_count=2)
    # stopwords ("the", "is", "a", "and") never enter; ids are 1-based in first-seen order; <unk> last
    assert vocab.word2idx == {"lake": 1, "big": 2, "road": 3, UNK: 4}
    assert vocab.size == 5
    assert vocab.encode("The big, unseen lake!") == [4, 2, 4, 1]
    assert vocab.encode("") == []
    path = tmp_path / "v.json"
    vocab.write(path)
    data = read_json(path)
    assert data["idx2word"] == {"1": "lake", "2": "big", "3": "road", "4": UNK} and data["idx"] == 5
    assert Vocabulary.read(path).word2idx == vocab.word2idx


def test_synthetic_vocabulary_matches_amfmn_rules(rsitmd_root):
    vocab = Vocabulary.read(rsitmd_root / "vocab" / "rsitmd_splits_vocab.json")
    assert vocab.unk_id == len(vocab) and sorted(vocab.word2idx.values()) == list(range(1, len(vocab) + 1))
    assert "the" not in vocab and "buildings" in vocab


@pytest.mark.parametrize("bad", [{"words": {}}, {"word2idx": {"a": 0}}, {"word2idx": {"a": "x"}}, []])
def test_malformed_vocabulary_is_one_line(tmp_path, bad):
    with pytest.raises(XgeoError, match="vocab"):
        Vocabulary.from_mapping(bad, tmp_path / "vocab.json")


def test_xgeo_synth_train_factor_sets_the_training_images_per_test_image(tmp_path, capsys):
    from xgeo.core import cli

    args = ["synth", "rsitmd", "--size", "2", "--aerial-size", "16"]
    assert cli.main([*args, "--out", str(tmp_path / "r"), "--train-factor", "3"]) == 0
    assert (RSITMD(tmp_path / "r", "train").num_images, RSITMD(tmp_path / "r", "test").num_images) == (6, 2)
    with pytest.raises(SystemExit):
        cli.main([*args, "--out", str(tmp_path / "bad"), "--train-factor", "0"])
    assert "--train-factor" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["synth", "vigor", "--out", str(tmp_path / "v"), "--size", "1", "--train-factor", "3"])
    assert "--train-factor does not apply to vigor" in capsys.readouterr().err
