"""zoo.grid / zoo.plots: a real 2 archs x 1 dataset x 2 seeds grid (2 epochs) writes results, leaderboard and
figures, resumes without retraining; leaderboard arithmetic and ranks on fixed rows; recipe files drive cells."""
import csv
import json
import statistics

import pytest

from engine_tiny import tiny_benchmark
from zoo.cli import main
from zoo.errors import UserError
from zoo.grid import leaderboard, plan, ranks, aggregate

ARCHS = "cnn_zeng_2_conv2d,deepram_conv1d_onehot"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    from zoo.grid import benchmark

    root = tmp_path_factory.mktemp("grid")
    tiny_benchmark(n=200, length=40).save_to_disk(str(root / "tiny"))
    out = root / "out"
    summary = benchmark(ARCHS, [str(root / "tiny")], 2, out_dir=out, overrides=["--epochs=2"], quiet=True)
    return root, out, summary


def test_grid_writes_results_leaderboard_and_figures(grid):
    root, out, summary = grid
    assert summary["failures"] == [] and summary["rows"] == 4
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted((r["arch"], r["seed"]) for r in rows) == [
        ("cnn_zeng_2_conv2d", "0"), ("cnn_zeng_2_conv2d", "1"),
        ("deepram_conv1d_onehot", "0"), ("deepram_conv1d_onehot", "1")]
    for r in rows:  # the table repeats each run's own metrics.json
        m = json.loads(open(f"{r['run_dir']}/metrics.json").read())
        assert float(r["test_accuracy"]) == pytest.approx(m["test"]["accuracy"])
        assert m["epochs_run"] == 2 and r["tag"] == "tiny"
    board = (out / "leaderboard.md").read_text()
    accs = [float(r["test_accuracy"]) for r in rows if r["arch"] == "cnn_zeng_2_conv2d"]
    assert f"{statistics.fmean(accs):.3f} ± {statistics.stdev(accs):.3f}" in board
    assert "## tiny" in board and "mean rank" in board
    names = {p.split("/")[-1] for p in summary["figures"]}
    assert names == {"roc_tiny.png", "pr_tiny.png", "dynamics_tiny.png", "overfitting.png", "ranks.png"}
    for p in summary["figures"]:
        data = open(p, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_grid_skips_finished_and_redoes_unfinished_cells(grid):
    root, out, _ = grid
    from zoo.grid import benchmark

    cell = out / "deepram_conv1d_onehot.tiny" / "seed1"
    before = json.loads((cell / "metrics.json").read_text())
    finished = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/metrics.json") if p.parent != cell}
    (cell / "metrics.json").unlink()  # as if killed before it finished
    (cell / "model.safetensors").unlink()
    summary = benchmark(ARCHS, [str(root / "tiny")], 2, out_dir=out, overrides=["--epochs=2"], quiet=True,
                        figures=False)
    assert summary["rows"] == 4 and summary["failures"] == []
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # untouched
    after = json.loads((cell / "metrics.json").read_text())
    before.pop("train_seconds"), after.pop("train_seconds")
    assert after == before  # trained again from its seed: the same result
    assert (cell / "model.safetensors").exists()


def test_benchmark_cli_summarize_only(grid, capsys):
    root, out, _ = grid
    assert main(["benchmark", "--summarize-only", "--no-figures", "--out", str(out),
                 "--report", str(root / "report")]) == 0
    assert "4 finished runs" in capsys.readouterr().out
    assert (root / "report" / "results.csv").read_text() == (out / "results.csv").read_text()
    assert (root / "report" / "leaderboard.md").exists()


def test_summarize_merges_an_earlier_table(grid, tmp_path, capsys):
    """Rows of an earlier results.csv stay for cells with no run folder here; a run here replaces its old row;
    the curves of a dataset with carried rows are kept, not redrawn without them."""
    root, out, _ = grid
    from zoo.grid import read_results_csv, write_results_csv

    here = read_results_csv(out / "results.csv")
    gone = dict(here[0], seed=7, test_accuracy=0.125, run_dir=str(tmp_path / "other_machine" / "seed7"))
    stale = dict(here[1], test_accuracy=0.0)
    write_results_csv([gone, stale], tmp_path / "old.csv")
    report = tmp_path / "report"
    args = ["benchmark", "--summarize-only", "--out", str(out), "--report", str(report),
            "--merge", str(tmp_path / "old.csv")]
    assert main(args) == 0
    assert "5 finished runs (1 carried from" in capsys.readouterr().out
    rows = read_results_csv(report / "results.csv")
    acc = {(r["arch"], r["seed"]): r["test_accuracy"] for r in rows}
    assert len(rows) == 5 and acc[gone["arch"], 7] == 0.125
    assert acc[here[1]["arch"], here[1]["seed"]] == here[1]["test_accuracy"]  # the run folder wins
    assert f"| {gone['arch']} | 3 |" in (report / "leaderboard.md").read_text()
    curves = report / "figures" / "roc_tiny.png"
    drawn = curves.stat().st_mtime_ns  # no figure before: drawn from the runs there are
    assert main(args) == 0
    assert "figure kept (some of its runs have no folder here)" in capsys.readouterr().out
    assert curves.stat().st_mtime_ns == drawn
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert main(args[:-1] + [str(tmp_path / "bad.csv")]) == 2
    assert "is not a genozoo results table" in capsys.readouterr().err


def _row(arch, tag, seed, acc, train_acc=0.9):
    return {"arch": arch, "tag": tag, "seed": seed, "best_epoch": 3, "num_params": 10, "test_accuracy": acc,
            "train_accuracy": train_acc}


def test_leaderboard_and_ranks_on_fixed_rows():
    rows = [_row("cnn_nguyen_2_conv2d", "splice", 0, 0.96), _row("cnn_nguyen_2_conv2d", "splice", 1, 0.94),
            _row("deepram_recurrent_onehot", "splice", 0, 0.90), _row("deepram_recurrent_onehot", "splice", 1, 0.92),
            _row("cnn_nguyen_2_conv2d", "motif_ctcf", 0, 0.70), _row("deepram_recurrent_onehot", "motif_ctcf", 0, 0.80)]
    agg = aggregate(rows)
    assert agg["splice"]["cnn_nguyen_2_conv2d"]["test_accuracy"] == pytest.approx((0.95, statistics.stdev([.96, .94])))
    assert agg["splice"]["deepram_recurrent_onehot"]["gap"][0] == pytest.approx(0.9 - 0.91)
    r = ranks(agg)
    assert r["cnn_nguyen_2_conv2d"] == {"splice": 1, "motif_ctcf": 2}
    assert r["deepram_recurrent_onehot"] == {"splice": 2, "motif_ctcf": 1}
    board = leaderboard(rows)
    assert "| cnn_nguyen_2_conv2d | 2 | 0.950 ± 0.014 |" in board
    assert "| cnn_nguyen_2_conv2d | 1 | 0.700 | - |" in board  # one seed: its value, no "± 0.000"
    assert "0.950 (0.990)" in board and "0.768 (0.851)" in board  # the study's figures beside ours
    # A model ranked on one dataset only comes after those ranked on both, however good its single rank.
    board = leaderboard(rows + [_row("cnn_deepdbp", "splice", 0, 0.99)])
    ranked = [line.split(" | ")[0].strip("| ") for line in board.split("## Rank")[1].splitlines() if "|" in line]
    assert ranked[-1] == "cnn_deepdbp" and len(ranked) == 5  # header, rule, the two on both, deepdbp
    assert "| cnn_deepdbp | - | 1 | 1.00 (1 of 2) |" in board  # motif_ctcf, splice
    tie = ranks(aggregate([_row("a", "t", 0, 0.5), _row("b", "t", 0, 0.5), _row("c", "t", 0, 0.4)]))
    assert (tie["a"]["t"], tie["b"]["t"], tie["c"]["t"]) == (1.5, 1.5, 3)


def test_plan_uses_recipe_files_and_checks_overrides(tmp_path):
    (tmp_path / "cnn_zeng_2_conv2d.splice.yaml").write_text(
        "arch: cnn_zeng_2_conv2d\ntag: splice\ntask: splice\ndataset: splice\nbatch_size: 32\nseeds: [7, 8, 9]\n")
    cells = plan(["cnn_zeng_2_conv2d", "deepram_recurrent_onehot"], ["splice"], 2, tmp_path, ["--epochs=3"])
    assert [(r.arch, r.task, s, r.epochs) for r, s in cells] == [
        ("cnn_zeng_2_conv2d", "splice", 7, 3), ("cnn_zeng_2_conv2d", "splice", 8, 3),
        ("deepram_recurrent_onehot", "splice", 0, 3), ("deepram_recurrent_onehot", "splice", 1, 3)]
    with pytest.raises(UserError, match="unknown recipe key 'epoch'"):
        plan(["cnn_zeng_2_conv2d"], ["splice"], 1, tmp_path, ["--epoch=3"])
    from zoo.cli.train import _seeds  # --seeds: a count, or the seeds themselves (to extend cells run elsewhere)

    assert _seeds("2") == 2 and _seeds("1,2") == [1, 2] and _seeds("8,") == [8]
    cells = plan(["cnn_zeng_2_conv2d"], ["splice"], _seeds("8,9"), tmp_path)
    assert [s for _, s in cells] == [8, 9]
    with pytest.raises(Exception, match="expected a count of at least 1 such as 3"):
        _seeds("two")
    with pytest.raises(UserError, match="no architecture matches"):
        from zoo.grid import expand_archs

        expand_archs("nothing_like_this*")


def test_a_grid_that_cannot_run_is_refused_before_any_cell_trains(tmp_path, capsys):
    out = tmp_path / "grid"
    for extra in (["--seeds", "-1"], ["--seeds", "0"], ["--seeds", "1,-2"], ["--datasets", "nope"],
                  ["--datasets", "mine.csv"], ["--recipes", str(tmp_path / "none")]):
        try:
            status = main(["benchmark", "--archs", "cnn_zeng_2_conv2d", "--out", str(out), "--quiet", *extra])
        except SystemExit as e:  # argparse refuses an option's value itself
            status = e.code
        assert status == 2, extra
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err, extra
    assert not out.exists()
    # A cell whose data turns out unreadable fails with its sentence, its neighbours go on; no traceback on screen.
    (tmp_path / "empty").mkdir()
    assert main(["benchmark", "--archs", "cnn_zeng_2_conv2d", "--datasets", str(tmp_path / "empty"), "--seeds", "1",
                 "--out", str(out), "--no-figures"]) == 2  # and no run finished: nothing to summarize
    captured = capsys.readouterr()
    assert "FAILED cnn_zeng_2_conv2d.empty seed 0: dataset folder" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
