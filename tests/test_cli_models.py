"""`genozoo list` / `genozoo info` / `--help`: the catalogue shows every registered architecture with its real
parameter count; info's layer table adds up; unknown names are one sentence with exit status 2."""
import subprocess
import sys

import pytest

import zoo
from zoo.cli import main
from zoo.registry import study_kwargs


def test_list_shows_every_architecture_with_its_parameter_count(capsys):
    assert main(["list", "--geometry", "histone"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert sorted(rows) == zoo.list_models()
    for arch in ("cnn_zeng_2_conv2d", "deepram_recurrent_embed"):
        model = zoo.create_model(arch, **study_kwargs(arch, "histone"))
        assert rows[arch][-1] == f"{model.num_parameters():,}"


def test_list_pattern_and_no_match(capsys):
    assert main(["list", "deepram_*"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2 + 6
    assert main(["list", "nothing*"]) == 0
    assert "no architectures match" in capsys.readouterr().out


@pytest.mark.parametrize("geometry", ["splice", "motif"])
def test_info_layer_table_adds_up_to_the_trainable_count(capsys, geometry):
    assert main(["info", "cnn_nguyen_conv1d_2_conv2d", "--geometry", geometry]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[1].splitlines()[2:]
    total = sum(int(line.split()[-1].replace(",", "")) for line in table)
    model = zoo.create_model("cnn_nguyen_conv1d_2_conv2d", **study_kwargs("cnn_nguyen_conv1d_2_conv2d", geometry))
    assert total == model.num_parameters()
    assert f"trainable parameters: {total:,}" in out


def test_unknown_architecture_and_help():
    run = subprocess.run([sys.executable, "-m", "zoo", "info", "cnn_zeng_3_conv"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.startswith("genozoo: error: unknown model 'cnn_zeng_3_conv'; did you mean 'cnn_zeng_3_conv2d'")
    assert len(run.stderr.strip().splitlines()) == 1
    helptext = subprocess.run([sys.executable, "-m", "zoo", "--help"], capture_output=True, text=True).stdout
    for command in ("list", "info", "data", "train", "evaluate", "benchmark", "publish", "verify", "push", "pull",
                    "card", "predict", "finetune", "explain", "space"):
        assert f"    {command}" in helptext, command


def test_info_of_a_published_name_shows_the_published_model(capsys):
    """`genozoo info ARCH.TAG` describes the published weight's model (its length, classes and parameter count),
    not the architecture at the default splice geometry; an explicit --geometry still rebuilds it."""
    name = "genonet_small.histone_h3_gue"
    assert main(["info", name]) == 0
    out = capsys.readouterr().out
    published = zoo.create_model(name)
    assert published.num_parameters() == zoo.registry.pretrained_cfg(name).num_params
    assert out.startswith(f"{name}  (family genonet")
    assert f"{published.seq_len} bp" in out
    assert f"trainable parameters: {published.num_parameters():,}" in out
    assert main(["info", name, "--geometry", "splice"]) == 0
    splice = zoo.create_model("genonet_small", **study_kwargs("genonet_small", "splice"))
    assert f"trainable parameters: {splice.num_parameters():,}" in capsys.readouterr().out
