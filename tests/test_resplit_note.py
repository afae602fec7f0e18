"""Point 4 of issue 23: where a published model's test rows come from a re-split of a published test file (CTCF:
only its test.data exists here; H3: GUE's dev + test pooled), the leaderboard rows, the README table and the
card's results say so beside the number, not only in prose."""
from __future__ import annotations

from pathlib import Path

import pytest

import zoo
from zoo.cards import render_model_card
from zoo.data.splits import RESPLIT_MARK, RESPLIT_NOTE, is_test_resplit
from zoo.grid import leaderboard, read_results_csv
from zoo.hub import read_config
from zoo.publish import README_END, README_START, leaderboard_markdown

ROOT = Path(__file__).resolve().parents[1]
RESPLIT_TAGS = {"motif_ctcf", "histone_h3_gue"}


@pytest.mark.parametrize("name", zoo.list_models(pretrained=True))
def test_records_are_flagged_exactly_when_their_test_rows_were_re_split(name):
    cfg = zoo.pretrained_cfg(name)
    assert is_test_resplit(cfg.split) == (cfg.tag in RESPLIT_TAGS), cfg.split


def test_split_texts():
    assert is_test_resplit("GUE's dev.csv + test.csv pooled and re-split stratified 70/15/15 with seed 3264")
    assert is_test_resplit("only its test.data (19383 rows) is available here; rows with N dropped, stratified "
                        "70/15/15 with seed 3264: 13567/2908/2908")
    assert not is_test_resplit("its train.data with 10% carved as validation and its test.data untouched")
    assert not is_test_resplit("the study's protocol: stratified 75/25 train/test") and not is_test_resplit("")


def _table(markdown: str, tag: str) -> list[str]:
    block = markdown.split(f"**{tag}**", 1)[1].split("\n**", 1)[0]
    return [ln for ln in block.splitlines() if ln.startswith("| `")]


def test_readme_table_marks_the_metrics_and_explains_the_mark():
    generated = leaderboard_markdown()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.split(README_START, 1)[1].split(README_END, 1)[0].strip() == generated.strip()  # committed
    for tag in ("motif_ctcf", "histone_h3_gue", "splice", "motif_ezh2"):
        rows = _table(generated, tag)
        assert rows
        for row in rows:
            cells = row.split(" | ")
            marked = [c.endswith(RESPLIT_MARK) for c in cells[3:6]]  # test accuracy, AUROC, MCC
            assert marked == [tag in RESPLIT_TAGS] * 3, row
    for tag in RESPLIT_TAGS:
        assert RESPLIT_NOTE in generated.split(f"**{tag}**", 1)[1].split("\n**", 1)[0]
    assert RESPLIT_NOTE not in generated.split("**splice**", 1)[1]


def test_grid_leaderboard_rows_are_marked():
    board = leaderboard(read_results_csv(ROOT / "train" / "results" / "results.csv"))
    assert (ROOT / "train" / "results" / "leaderboard.md").read_text(encoding="utf-8") == board  # committed
    sections = dict(s.split("\n", 1) for s in board.split("\n## ")[1:])
    for tag in ("motif_ctcf", "histone_h3_gue", "splice", "motif_ezh2"):
        rows = [ln for ln in sections[tag].splitlines() if ln.startswith("| ") and not ln.startswith("| model")
                and not ln.startswith("|---")]
        for row in rows:
            cells = row.strip("| ").split(" | ")
            assert all(c.endswith(RESPLIT_MARK) == (tag in RESPLIT_TAGS) for c in cells[2:8]), row
            assert not cells[8].endswith(RESPLIT_MARK)  # train accuracy is not a test number
        assert (RESPLIT_NOTE in sections[tag]) == (tag in RESPLIT_TAGS)


@pytest.mark.parametrize("name", ["deepram_conv1d_onehot.motif_ctcf", "deepram_conv1d_onehot.splice"])
def test_card_results_carry_the_mark(name):
    cfg = zoo.pretrained_cfg(name)
    text = render_model_card(read_config(ROOT / "hub" / "genozoo" / name / "config.json"), cfg)
    results = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    accuracy = next(ln for ln in results.splitlines() if ln.startswith("| Accuracy |"))
    resplit = cfg.tag in RESPLIT_TAGS
    assert accuracy.split(" | ")[1].endswith(RESPLIT_MARK) == resplit, accuracy
    assert (RESPLIT_NOTE in results) == resplit
