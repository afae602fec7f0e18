"""Bad input to `genozoo predict / explain / finetune`: one clear sentence on stderr, exit status 2, no traceback,
no output file left behind. Each case runs the real command line in a child process."""
from __future__ import annotations

import pytest

from use_models import run_cli, trained


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return trained("kmer", tmp_path_factory.mktemp("use-models")).folder


def _one_sentence(out) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("genozoo: error: ")
    return lines[0]


def _files(tmp_path):
    good = "ACGT" * 15
    files = {
        "invalid.fa": f">ok\n{good}\n>bad seq\nACGTACGTZZACGT\n",
        "empty.fa": "",
        "table.csv": f"name,dna\nr1,{good}\n",
        "long.fa": f">ok\n{good}\n>chr1\n{'ACGT' * 25_000}\n",
        "two.fa": f">a\n{good}\n>b\n{good}\n",
        "two.target": "1\t0\n0\t1\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


CASES = {
    "invalid characters": (["predict", "{model}", "invalid.fa", "-o", "out.csv"],
                           "sequence 'bad' has invalid character 'Z' at position 9"),
    "invalid characters to stdout": (["predict", "{model}", "invalid.fa"],
                                     "sequence 'bad' has invalid character 'Z' at position 9"),
    "empty file": (["predict", "{model}", "empty.fa", "-o", "out.csv"], "input 'empty.fa' is empty"),
    "missing column": (["predict", "{model}", "table.csv", "--sequence-column", "sequence", "-o", "out.csv"],
                       "has no column 'sequence' for the sequence; its columns are name, dna"),
    "far too long": (["predict", "{model}", "long.fa", "-o", "out.csv"],
                     "sequence 'chr1' is 100,000 bp long, far longer than this model's 60 bp input"),
    "unknown model": (["predict", "deepram_conv1d_onehot.no_such_tag", "table.csv", "-o", "out.csv"],
                      "unknown model 'deepram_conv1d_onehot.no_such_tag'"),
    "unknown architecture": (["predict", "deepram_conv1d_onehto", "table.csv"],
                             "unknown model 'deepram_conv1d_onehto'; did you mean 'deepram_conv1d_onehot'"),
    "missing input": (["predict", "{model}", "nothere.fa"], "input 'nothere.fa' is not a file"),
    "explain invalid sequence": (["explain", "{model}", "ACGTJJ", "-o", "x.png"],
                                 "input 'ACGTJJ' is neither a file nor a DNA sequence"),
    "explain bad logo name": (["explain", "{model}", "ACGT" * 15, "-o", "x.gif"], "name the output .png, .svg"),
    "explain unknown target": (["explain", "{model}", "ACGT" * 15, "-o", "x.png", "--target", "maybe"],
                               "target class 'maybe' is not one of this model's labels (absent, present)"),
    "finetune missing data": (["finetune", "{model}", "--data", "empty.fa", "-o", "ft"], "holds no records"),
    "finetune missing label column": (["finetune", "{model}", "--data", "table.csv", "--label-column", "y",
                                       "-o", "ft"], "has no column 'y' for the label"),
    "finetune mixed data forms": (["finetune", "{model}", "--data", "A=two.fa", "--data", "two.fa", "-o", "ft"],
                                  "--data mixes class files (A=two.fa) with plain files (two.fa)"),
    "finetune matrix names": (["finetune", "{model}", "--data", "two.fa", "--labels", "two.target",
                               "--label-names", "a,b,c", "-o", "ft"],
                              "was read as a 0/1 matrix with 2 columns, but 3 label names were given"),
    "finetune labels per file": (["finetune", "{model}", "--data", "two.fa", "--test", "two.fa", "--labels",
                                  "two.target", "-o", "ft"], "give one labels file per data file"),
    "bakeoff unknown model": (["bakeoff", "--data", "two.fa", "--models", "deepram_conv1d_onehto", "-o", "b"],
                              "did you mean 'deepram_conv1d_onehot'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_sentence_and_status_2(case, model_dir, tmp_path):
    args, expected = CASES[case]
    folder = _files(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    out = run_cli(*[a.format(model=model_dir) for a in args], cwd=folder)
    line = _one_sentence(out)
    assert expected in line, line
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing half-written left behind
    assert out.stdout == ""  # not even a CSV header on standard output
