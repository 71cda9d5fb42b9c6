"""Presets by name and path, the original YAML layout, and config errors."""

from __future__ import annotations

import pytest

from xgeo.core.presets import preset_names
from xgeo.hvsa.cli import train_main
from xgeo.hvsa.config import SCHEMA, resolve

ORIGINAL = """
experiment_name: 'HVSA_RSICD'
optim: {epochs: 50, lr: 0.001, lr_decay_param: 0.1, lr_update_epoch: 20, grad_clip: 0, alpha: 0.2, resume: False}
loss: {adaptive_alignment: {beta: 0.5}, feature_uniformity: {gamma: 2}}
model:
  name: HVSA
  embed: {embed_dim: 512}
  finetune: True
  seq2vec: {arch: skipthoughts, dir_st: /home/author/skipthoughts, type: BayesianUniSkip, dropout: 0.25, fixed_emb: False}
logs: {eval_step: 1, print_freq: 10, ckpt_save_path: "checkpoints/", logger_name: 'logs/'}
random_seed: {seed: [2023, 2024, 2025], nums: 3, current_num: 0}
dataset:
  datatype: rsicd
  data_path: '/home/author/HVSA/data/rsicd_raw/'
  image_path: '/home/author/rsicd/images/'
  vocab_path: '/home/author/HVSA/vocab/rsicd_splits_vocab.json'
  batch_size: 256
  batch_size_val: 256
  workers: 2
GPU: V100
"""


def test_presets_by_name_and_by_path():
    assert set(preset_names(SCHEMA)) >= {"rsitmd", "rsicd", "demo"}
    rsitmd, rsicd = resolve({"config": "rsitmd"}), resolve({"config": "rsicd"})
    assert (rsitmd.train.lr, rsicd.train.lr) == (5e-4, 1e-3)
    assert rsitmd.run.seeds == [2022, 2023, 2024] and rsicd.run.seeds == [2023, 2024, 2025]
    assert rsitmd.train.milestones == (19.0, 39.0) and rsitmd.train.warmup_epochs == 10
    assert rsitmd.train.best_metric == "rsum" and rsitmd.data.val_ratio == 0.9
    from xgeo.core.presets import preset_path

    by_path = resolve({"config": str(preset_path(SCHEMA, "rsicd"))})
    assert by_path.to_dict() == rsicd.to_dict()


def test_original_yaml_keys_map_onto_the_sections(tmp_path, rsitmd_root):
    path = tmp_path / "HVSA_rsicd.yaml"
    path.write_text(ORIGINAL)
    config = resolve({"config": str(path), "data_root": str(rsitmd_root)})
    assert config.data.dataset == "rsicd" and config.data.data_root == str(rsitmd_root)
    # the author-local image and vocabulary paths give way to the layout under --data-root
    assert config.data.image_dir is None and config.data.vocab is None
    assert (config.train.lr, config.train.gamma, config.train.grad_clip, config.train.batch_size) == (1e-3, 0.1, None, 256)
    assert config.train.milestones == (19.0, 39.0) and config.train.log_every == 10
    assert (config.loss.alpha, config.loss.beta, config.loss.gamma) == (0.2, 0.5, 2)
    assert config.run.seeds == [2023, 2024, 2025] and config.run.runs == 3
    assert config.model.dropout == 0.25 and config.model.dir_st == "/home/author/skipthoughts"
    assert config.train.out_dir == "checkpoints/HVSA_RSICD"


def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        train_main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error:")
    return err


def test_config_with_a_bad_data_path_is_one_line(tmp_path, capsys):
    path = tmp_path / "HVSA_rsicd.yaml"
    path.write_text(ORIGINAL)
    err = _fails(["--config", str(path), "--save-path", str(tmp_path / "out")], capsys)
    assert "/home/author/HVSA/data/rsicd_raw/" in err and "--data-root" in err and str(path) in err
    err = _fails(["--config", "demo", "--data-root", str(tmp_path / "nowhere"), "--save-path", str(tmp_path / "o")], capsys)
    assert "nowhere" in err and "no RSITMD dataset here" in err


def test_unknown_original_key_and_bad_values_are_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(ORIGINAL.replace("lr_decay_param", "lr_decay"))
    assert "unknown key optim.lr_decay" in _fails(["--config", str(path)], capsys)
    path.write_text(ORIGINAL.replace("type: BayesianUniSkip", "type: BiSkip"))
    assert "BayesianUniSkip" in _fails(["--config", str(path)], capsys)
    assert "--val-ratio=1.5 is out of range" in _fails(["--config", "demo", "--val-ratio", "1.5"], capsys)
    assert "no preset called" in _fails(["--config", "nonesuch"], capsys)
