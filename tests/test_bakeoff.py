"""`genozoo bakeoff`: the candidates it picks, and a run on a small planted-motif set whose winner is known (a
model pretrained on exactly this motif against a published baseline from another task)."""
from __future__ import annotations

import csv

import pytest

from zoo.bakeoff import mean_ranks, select_models
from zoo.data import planted_motif_benchmark
from zoo.errors import UserError
from zoo.registry import model_family

from use_models import run_cli, trained


@pytest.fixture(scope="session")
def kmer(tmp_path_factory):
    return trained("kmer", tmp_path_factory.mktemp("use-models"))


def test_best_is_the_top_ranked_published_model_of_each_family_at_the_nearest_length():
    ranks = mean_ranks()
    # The README's finding: the GenoNets lead every task (the ensemble first on all four; genonet_small_pos32 and
    # genonet_small tied on splice, where they are the same model), then the two DeepRAM CNN + LSTM models.
    assert sorted(ranks, key=ranks.get)[:5] == ["genonet_small_pos32_x3", "genonet_small_pos32", "genonet_small",
                                                "deepram_conv1d_recurrent_embed", "deepram_conv1d_recurrent_onehot"]
    assert ranks["genonet_small_pos32_x3"] == pytest.approx(1.0)
    assert ranks["genonet_small_pos32"] == pytest.approx(2.375) and ranks["genonet_small"] == pytest.approx(2.625)
    assert ranks["deepram_conv1d_recurrent_embed"] == pytest.approx(6.25)
    best = select_models("best", seq_len=101)
    assert sorted(c.family for c in best) == ["convformer", "deepram", "genonet", "nlp", "paper_cnn", "transformer"]
    for c in best:
        same_family = [a for a in ranks if model_family(a) == c.family]
        assert ranks[c.arch] == min(ranks[a] for a in same_family)
        assert c.pretrained and c.spec == c.name
    deepram = next(c for c in best if c.family == "deepram")
    assert deepram.name == "deepram_conv1d_recurrent_embed.motif_ctcf"  # 101 bp, the data's length
    at_500 = {c.family: c.name for c in select_models("best", seq_len=500)}
    assert at_500["genonet"] == "genonet_small_pos32_x3.histone_h3_gue"  # the published length nearest 500 bp
    fam = select_models("family:deepram", seq_len=60)
    assert len(fam) == 6 and all(c.family == "deepram" for c in fam)
    assert [c.name for c in select_models("deepram_conv1d_onehot, cnn_zeng_2_conv2d.splice", 60)] == \
        ["deepram_conv1d_onehot.splice", "cnn_zeng_2_conv2d.splice"]
    assert not any(c.arch == "lstm_autoencoder" for c in select_models("family:nlp", 60))  # not a classifier
    with pytest.raises(UserError, match="did you mean"):
        select_models("deepram_conv1d_onehto")
    with pytest.raises(UserError, match="no model family 'cnn'"):
        select_models("family:cnn")


def test_bakeoff_on_a_planted_motif_set_names_the_known_winner(kmer, tmp_path):
    dd = planted_motif_benchmark(500, 60, ["CTCF"], seed=31, splits=(0.7, 0.0, 0.3))
    for split in ("train", "test"):
        names = dd[split].features["label"].names
        (tmp_path / f"{split}.fa").write_text("".join(
            f">{split}{i}|{names[y]}\n{s}\n"
            for i, (s, y) in enumerate(zip(dd[split]["sequence"], dd[split]["label"]))))
    out_dir = tmp_path / "report"
    out = run_cli("bakeoff", "--data", "train.fa", "--test", "test.fa", "--models", f"{kmer.folder},lstm_baseline",
                  "--epochs", "1", "--seeds", "2", "--scratch", "--batch-size", "32", "-o", out_dir, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    winner = kmer.folder.name  # pretrained on CTCF presence at 60 bp: the task of this data
    rows = list(csv.DictReader(open(out_dir / "results.csv")))
    assert len(rows) == 8  # 2 models x (fine-tuned, from scratch) x 2 seeds
    assert {(r["model"], r["mode"]) for r in rows} == {(winner, "fine-tuned"), (winner, "from scratch"),
                                                       ("lstm_baseline.splice", "fine-tuned"),
                                                       ("lstm_baseline.splice", "from scratch")}
    board = (out_dir / "leaderboard.md").read_text()
    first = next(ln for ln in board.splitlines() if ln.startswith("| 1 |"))
    assert f"`{winner}`" in first and "fine-tuned" in first and " ± " in first
    recommendation = (out_dir / "recommendation.md").read_text()
    assert f"**Recommendation: `{winner}` (fine-tuned" in recommendation
    assert "Fine-tuned minus from scratch" in recommendation and f"`{winner}` +" in recommendation
    assert (out_dir / "bakeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Recommendation:" in out.stdout and "| rank | model |" in out.stdout  # and in the terminal
    accs = {}
    for r in rows:
        accs.setdefault((r["model"], r["mode"]), []).append(float(r["test_accuracy"]))
    assert min(accs[(winner, "fine-tuned")]) > max(accs[("lstm_baseline.splice", "fine-tuned")])


def test_recommendation_reasons_about_ties_speed_and_pretraining(tmp_path):
    from zoo.bakeoff import BakeoffResult, leaderboard_rows, recommend, write_report

    def run(model, mode, seed, acc, seconds, family="deepram"):
        return {"model": model, "arch": model, "family": family, "mode": mode, "seed": seed, "seconds": seconds,
                "params": 1000, "test_accuracy": acc, "test_auroc": acc, "test_mcc": 2 * acc - 1}

    rows = [run("big", "fine-tuned", 0, 0.91, 100), run("big", "fine-tuned", 1, 0.89, 100),
            run("small", "fine-tuned", 0, 0.90, 10, "nlp"), run("small", "fine-tuned", 1, 0.88, 10, "nlp"),
            run("big", "from scratch", 0, 0.70, 90), run("big", "from scratch", 1, 0.72, 90)]
    result = BakeoffResult(rows, [], "mine.fa", "as given", {"train": 10, "validation": 2, "test": 5},
                           dict(epochs=3, lr=1e-3, batch_size=32, seeds=[0, 1]))
    board = leaderboard_rows(result)
    assert [(r["model"], r["mode"]) for r in board] == [("big", "fine-tuned"), ("small", "fine-tuned"),
                                                        ("big", "from scratch")]
    text = recommend(result)
    assert text.startswith("**Recommendation: `big` (fine-tuned, test accuracy 0.900 ± 0.014 over 2 seeds")
    assert "not clearly better than `small` (fine-tuned" in text and "`big` (from scratch" not in text.split(
        "within two standard errors")[0].split("not clearly better than")[1]
    assert "`small` (fine-tuned) is 10.0x faster per run" in text
    assert "Fine-tuned minus from scratch, same architecture and budget (test accuracy): `big` +0.190" in text
    files = write_report(result, tmp_path / "out")
    assert [f.name for f in files] == ["results.csv", "leaderboard.md", "recommendation.md", "bakeoff.png"]
    # A clear lead says so.
    clear = BakeoffResult(rows[:2] + [run("weak", "fine-tuned", s, 0.6, 5) for s in (0, 1)], [], "mine.fa",
                          "as given", {}, dict(epochs=3, lr=1e-3, batch_size=32, seeds=[0, 1]))
    assert "leads every other candidate by more than two standard errors" in recommend(clear)


def test_recommendation_with_one_seed_claims_no_standard_errors():
    """One seed has no spread: the recommendation names the 0.01 margin it used instead of "two standard errors"."""
    from zoo.bakeoff import BakeoffResult, recommend

    def run(model, acc):
        return {"model": model, "arch": model, "family": "deepram", "mode": "fine-tuned", "seed": 0, "seconds": 1.0,
                "params": 1000, "test_accuracy": acc, "test_auroc": acc, "test_mcc": 2 * acc - 1}

    settings = dict(epochs=1, lr=1e-3, batch_size=32, seeds=[0])
    clear = recommend(BakeoffResult([run("a", 0.9), run("b", 0.8)], [], "mine.fa", "as given", {}, settings))
    assert "two standard errors" not in clear
    assert "leads every other candidate by more than 0.01 (one seed, so no standard error)" in clear
    tied = recommend(BakeoffResult([run("a", 0.9), run("b", 0.895)], [], "mine.fa", "as given", {}, settings))
    assert "two standard errors" not in tied
    assert "the differences are within 0.01 (one seed, so no standard error)" in tied
