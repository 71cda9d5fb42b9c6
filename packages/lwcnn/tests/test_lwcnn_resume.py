"""--resume restores the Adam state (the released code silently dropped it): 1 step + resume + 1 step == 2 steps."""

from __future__ import annotations

import torch

from xgeo.lwcnn import cli

TINY_RUN = ["--config", "demo", "--batch_size", "8", "--n_epochs", "1", "--batch_size_val", "16", "--no-progress"]


def _weights(path):
    return torch.load(path, weights_only=True)


def test_resume_continues_with_the_saved_adam_moments(lwcnn_cvusa, tmp_path, run_cli):
    data = ["--data_root_cvusa", str(lwcnn_cvusa)]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run_cli(cli.train_main, [*data, *TINY_RUN, "-o", str(straight), "--max-steps", "2"])[0] == 0
    assert run_cli(cli.train_main, [*data, *TINY_RUN, "-o", str(split), "--max-steps", "1"])[0] == 0
    half = _weights(split / "checkpoint.pth.tar")
    moments = half["optimizer"]["state"]
    assert moments and all(float(s["step"]) == 1.0 for s in moments.values())
    assert any(s["exp_avg"].abs().sum() > 0 for s in moments.values())

    code, out, err = run_cli(cli.train_main, [*data, *TINY_RUN, "-o", str(split), "--max-steps", "2",
                                              "--resume", str(split / "checkpoint.pth.tar")])
    assert code == 0, err
    resumed, reference = _weights(split / "checkpoint.pth.tar"), _weights(straight / "checkpoint.pth.tar")
    assert all(float(s["step"]) == 2.0 for s in resumed["optimizer"]["state"].values())
    for key, value in reference["state_dict"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(resumed["state_dict"][key], value), key

