"""Config resolution from the original flags, presets, and one-line errors for bad input."""

from __future__ import annotations

import pytest

from xgeo.core.errors import XgeoError
from xgeo.core.presets import preset_names
from xgeo.lwcnn import cli
from xgeo.lwcnn.config import SCHEMA, resolve
from xgeo.lwcnn.run import model_spec, schedule


def parse(argv: list[str]) -> dict:
    args = cli.TRAIN.parser().parse_args(argv)
    return {k: v for k, v in vars(args).items() if not k.startswith("_")}


def test_presets_are_the_paper_settings_and_demo():
    assert set(preset_names(SCHEMA)) == {"cvact", "cvusa", "demo"}
    config = resolve({"config": "cvusa"})
    assert (config.train.optimizer, config.train.lr, config.train.betas) == ("adam", 1e-4, (0.5, 0.999))
    assert (config.train.batch_size, config.train.epochs, config.train.seed) == (32, 300, 10)
    assert (config.model.sa_num, config.model.ground_size, config.model.aerial_size) == (8, [128, 512], [256, 256])
    assert config.loss.lambda_sm == 10.0 and resolve({"config": "cvact"}).data.dataset == "cvact"
    assert config.train.schedule == "constant" and schedule(config)(21) == 0.1


def test_demo_preset_keeps_every_negative_through_its_last_epoch_under_a_cosine_lr():
    config = resolve({"config": "demo"})
    ratios = schedule(config)
    assert [ratios(e) for e in range(config.train.epochs)] == [1.0] * config.train.epochs
    assert (config.train.schedule, config.train.lr, config.train.betas) == ("cosine", 1e-3, (0.9, 0.999))


def test_train_cvusa_sh_command_line_resolves_to_the_paper_run():
    given = parse(["--data_root_cvusa", "/data/CVUSA/", "--batch_size", "32", "--batch_size_val", "32",
                   "--n_epochs", "300", "--CVUSA"])
    config = resolve(given)
    assert config.preset == "cvusa" and config.data.dataset == "cvusa"
    assert config.data.data_root == "/data/CVUSA/" and config.train.out_dir == "./RESULTS"
    spec = model_spec(config)
    assert spec.ground_size == [128, 512] and spec.aerial_size == [256, 256] and spec.heads == 8


def test_cvact_wins_and_takes_its_own_root():
    config = resolve(parse(["--CVUSA", "--CVACT", "--data_root_cvusa", "/u/", "--data_root_cvact", "/a/"]))
    assert config.data.dataset == "cvact" and config.data.data_root == "/a/" and config.preset == "cvact"


def test_gpu_is_an_alias_of_gpu_ids():
    assert parse(["--gpu", "0"])["gpu_ids"] == "0"
    assert parse(["--gpu", "0,1"])["gpu_ids"] == "0,1"
    assert resolve(parse(["--gpu", "-1"])).run.gpu_ids == "-1"


def test_original_flags_land_in_their_sections():
    config = resolve(parse([
        "--config", "demo", "--b1", "0.7", "--b2", "0.99", "--lr", "3e-4", "--sat_size_h", "64", "--grd_size_w", "256",
        "--sa_num", "4", "--lambda_sm", "5", "--hard_decay2_topk_ratio", "0.2", "--attention", "none", "--seed", "3",
    ]))
    assert config.train.betas == (0.7, 0.99) and config.train.lr == 3e-4 and config.train.seed == 3
    assert config.model.aerial_size == [64, 32] and config.model.ground_size == [16, 256]
    assert config.model.sa_num == 4 and config.model.attention == "none" and config.loss.lambda_sm == 5.0
    assert schedule(config)(config.loss.decay_epochs[1]) == 0.2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hard_topk_ratio", "1.5"], "--hard-topk-ratio"),
        (["--train_csv", "mine.csv"], "train-19zl.csv"),
        (["--batch_size", "0"], "--batch-size"),
        (["--config", "nope"], "no preset called 'nope'"),
    ],
)
def test_bad_values_are_refused_naming_the_flag(argv, message):
    with pytest.raises(XgeoError, match=message):
        resolve(parse(argv))


def test_bad_input_is_one_line_without_traceback(run_cli, tmp_path, lwcnn_cvusa):
    code, out, err = run_cli(cli.train_main, ["--CVUSA", "--config", "demo", "-o", str(tmp_path / "r")])
    assert code == 2 and "--data_root_cvusa" in err and "Traceback" not in err
    code, out, err = run_cli(cli.train_main, ["--data_root_cvusa", str(tmp_path / "missing"), "--config", "demo",
                                              "-o", str(tmp_path / "r2")])
    assert code == 2 and "missing" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(cli.train_main, ["--data_root_cvusa", str(lwcnn_cvusa), "--test", "-o", str(tmp_path / "t")])
    assert code == 2 and "--checkpoint" in err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    code, out, err = run_cli(cli.test_main, ["--checkpoint", str(bad), "--data_root_cvusa", str(lwcnn_cvusa)])
    assert code == 2 and "bad.pth" in err and "Traceback" not in err


def test_scripts_answer_help(run_cli):
    for main, name in ((cli.train_main, "lwcnn-train"), (cli.test_main, "lwcnn-test")):
        code, out, _ = run_cli(main, ["--help"])
        assert code == 0 and f"usage: {name}" in out
