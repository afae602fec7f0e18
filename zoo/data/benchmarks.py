"""The study's benchmarks and their split protocols (PAPER.md): splice, the ten yeast histone marks, GUE's H3, and
Zeng et al.'s motif discovery (one experiment, or all 690 with the paper's protocol).

Every builder returns ``(DatasetDict, protocol_text)``; the text says exactly which split was made and goes into
the dataset's description and card. Fixed-seed splits use the study's seed 3264 unless ``seed=`` says otherwise.
Checksums: pinned where the real file was available to check (``../shared/data/SHA256SUMS``); the other sources
are fetched unverified, their computed sha256 is recorded in the cache, and the metadata says so.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Optional

import numpy as np

from zoo.data.build import DEFAULT_SEED, Columns, clean_sequences, read_columns, to_dataset, to_dataset_dict
from zoo.data.formats import iter_delimited, iter_fasta, iter_uci, iter_zeng
from zoo.data.registry import (STUDY_CITATION, Benchmark, BenchmarkInfo, register_alias, register_benchmark,
                               register_family)
from zoo.data.sources import SourceFile
from zoo.data.splits import SPLITS, carve_validation, paper_splice_split, study_split
from zoo.errors import UserError

BINARY = ("negative", "positive")
_STUDY = f"Used by {STUDY_CITATION}"


def _need(files: dict, role: str, name: str) -> Path:
    if files.get(role) is None:
        raise UserError(f"benchmark {name!r} needs the file {role!r}, which the source does not hold")
    return files[role]


def _y(cols: Columns, names) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    return np.array([index.get(str(v), int(v) if str(v).isdigit() else -1) for v in cols["label"]])


def _split_dd(cols: Columns, names, parts, where):
    return to_dataset_dict({s: cols.take(p) for s, p in zip(SPLITS, parts)}, names, where=where)


# ------------------------------------------------------------------------------------------------- splice
SPLICE_URL = ("https://archive.ics.uci.edu/ml/machine-learning-databases/molecular-biology/"
              "splice-junction-gene-sequences/splice.data")


def build_splice(files, protocol: str = "default", seed: int = DEFAULT_SEED, ambiguity: Optional[str] = None):
    cols = read_columns(iter_uci(_need(files, "splice.data", "splice")))
    amb = ambiguity or ("splice" if protocol == "paper" else "N")
    cols["sequence"] = clean_sequences(cols["sequence"], amb, ids=cols["id"])
    names = ("EI", "IE", "N")
    y = _y(cols, names)
    amb_text = {"N": "ambiguity codes D, N, S, R -> N", "splice": "ambiguity codes replaced as in the study "
                "(N->A, D->T, S->C, R->G)", "keep": "ambiguity codes kept"}[amb]
    if protocol == "paper":
        parts = paper_splice_split(y, seed=seed)
        text = (f"the study's protocol: stratified 75/25 train/test, then 15% of train as validation "
                f"(scikit-learn, seed {seed}; the original fixed no seed); {amb_text}")
    elif protocol == "default":
        parts = study_split(y, seed=seed)
        text = f"stratified 70/15/15 (scikit-learn train_test_split, seed {seed}); {amb_text}"
    else:
        raise UserError(f"splice has protocols 'default' and 'paper', not {protocol!r}")
    return _split_dd(cols, names, parts, "splice.data"), text


register_benchmark(Benchmark(
    info=BenchmarkInfo(
        name="splice", task="3-class classification (splice junction type)",
        description="Primate splice-junction gene sequences: exon/intron boundary (EI), intron/exon boundary "
                    "(IE) or neither (N), 60 bp centred on the candidate junction. " + _STUDY,
        classes=("EI", "IE", "N"), length=60, size=3190, license="CC BY 4.0",
        citation="Noordewier, Towell & Shavlik (1991), Training knowledge-based neural networks to recognize "
                 "genes in DNA sequences, NIPS 3; UCI Machine Learning Repository, Molecular Biology "
                 "(Splice-junction Gene Sequences)",
        split_protocol="default: stratified 70/15/15, seed 3264, ambiguity codes -> N. protocol='paper': "
                       "stratified 75/25 then 15% of train as validation, ambiguity N->A D->T S->C R->G",
        sources=(SourceFile(SPLICE_URL, "ebbae10c85d3c285e2a2489a37e42bc2ee8d91d15005e391a9962fa3389a114f",
                            "splice.data"),),
        homepage="https://archive.ics.uci.edu/dataset/69/molecular+biology+splice+junction+gene+sequences",
        protocols=("default", "paper")),
    build=build_splice))


# ------------------------------------------------------------------------------------------------ histone
HISTONE_MARKS = ("H3", "H4", "H3K9ac", "H3K14ac", "H4ac", "H3K4me1", "H3K4me2", "H3K4me3", "H3K36me3", "H3K79me3")
_HISTONE_FILE = dict(zip(HISTONE_MARKS, (1, 2, 4, 5, 8, 10, 11, 12, 13, 14)))
HISTONE_URL = "http://www.jaist.ac.jp/~tran/nucleosome/ten_dataset/dataset{:02d}.txt"
_HISTONE_CITATION = ("Nguyen et al. (2016), DNA sequence classification by convolutional neural network, "
                     "J. Biomedical Science and Engineering 9:280-286; data from Pokholok et al. (2005), "
                     "Genome-wide map of nucleosome acetylation and methylation in yeast, Cell 122:517-527")


def _histone_builder(mark: str):
    role = f"dataset{_HISTONE_FILE[mark]:02d}.txt"

    def build(files, protocol: str = "default", seed: int = DEFAULT_SEED, ambiguity: Optional[str] = None):
        if protocol != "default":
            raise UserError(f"histone_{mark.lower()} has only the protocol 'default'")
        # The label is the 501st character; records of any other length are dropped (as in the study).
        recs = iter_fasta(_need(files, role, f"histone_{mark.lower()}"), label_last_char=True)
        cols = read_columns(recs, keep_length=500)
        if not len(cols):
            raise UserError(f"no 501-character records (500 bp + label) in {str(files[role])!r}; is it a Nguyen "
                            "histone file?")
        cols["sequence"] = clean_sequences(cols["sequence"], ambiguity or "N", ids=cols["id"])
        parts = study_split(_y(cols, BINARY), seed=seed)
        text = (f"stratified 70/15/15 with seed {seed} (the study's calls to scikit-learn train_test_split); "
                "records that are not 500 bp + label dropped")
        return _split_dd(cols, BINARY, parts, role), text

    return build


for _mark in HISTONE_MARKS:
    register_benchmark(Benchmark(
        info=BenchmarkInfo(
            name=f"histone_{_mark.lower()}", task="binary classification (histone occupancy / modification)",
            description=f"Yeast DNA wrapped around nucleosomes, labelled by {_mark} "
                        f"{'occupancy' if _mark in ('H3', 'H4') else 'modification'} (Pokholok et al. 2005, "
                        "as prepared by Nguyen et al. 2016). " + (_STUDY if _mark == "H3" else
                                                                   "The study used only H3."),
            classes=BINARY, length=500, size=14965 if _mark == "H3" else None,
            license="not stated by the distributors (research use)", citation=_HISTONE_CITATION,
            split_protocol="stratified 70/15/15, seed 3264 (the study's protocol: 10475/2245/2245 for H3)",
            sources=(SourceFile(HISTONE_URL.format(_HISTONE_FILE[_mark]), None,
                                f"dataset{_HISTONE_FILE[_mark]:02d}.txt"),),
            homepage="http://www.jaist.ac.jp/~tran/nucleosome/",
            notes="sha256 not pinned: the file was not available to verify; the computed sha256 is recorded in "
                  "the cache on first download (unverified)."),
        build=_histone_builder(_mark)))


# -------------------------------------------------------------------------------------- histone (GUE H3)
GUE_H3_URL = "https://huggingface.co/datasets/leannmlindsey/GUE/resolve/main/GUE/emp_H3/{}.csv"


def build_histone_gue(files, protocol: str = "auto", seed: int = DEFAULT_SEED, ambiguity: Optional[str] = None):
    parts = {}
    for role in ("train.csv", "dev.csv", "test.csv"):
        if files.get(role) is not None:
            cols = read_columns(iter_delimited(files[role]))
            cols["sequence"] = clean_sequences(cols["sequence"], ambiguity or "N", ids=cols["id"])
            parts[role] = cols
    if not parts:
        raise UserError("histone_h3_gue found none of train.csv, dev.csv, test.csv in the source")
    if protocol == "auto":
        protocol = "gue" if len(parts) == 3 else "resplit"
    if protocol == "gue":
        if len(parts) != 3:
            raise UserError(f"protocol 'gue' needs train.csv, dev.csv and test.csv; the source has only "
                            f"{', '.join(parts)}; use protocol='resplit'")
        dd = to_dataset_dict({"train": parts["train.csv"], "validation": parts["dev.csv"],
                              "test": parts["test.csv"]}, BINARY, where="GUE emp_H3")
        return dd, "GUE's own split: train.csv / dev.csv (validation) / test.csv"
    if protocol != "resplit":
        raise UserError(f"histone_h3_gue has protocols auto, gue and resplit, not {protocol!r}")
    pooled = Columns(id=[], sequence=[], label=[])
    for cols in parts.values():
        pooled.extend(cols)
    split = study_split(_y(pooled, BINARY), seed=seed)
    text = (f"{' + '.join(parts)} pooled and re-split stratified 70/15/15 with seed {seed} "
            f"({'train.csv absent from the source' if 'train.csv' not in parts else 'all of GUE'})")
    return _split_dd(pooled, BINARY, split, "GUE emp_H3"), text


register_benchmark(Benchmark(
    info=BenchmarkInfo(
        name="histone_h3_gue", task="binary classification (histone H3 occupancy)",
        description="The study's yeast H3 data as re-split by the GUE benchmark of DNABERT-2 (CSV sequence,label; "
                    "500 bp).",
        classes=BINARY, length=500, size=14965, license="Apache-2.0 (GUE repository)",
        citation="Zhou et al. (2024), DNABERT-2: Efficient Foundation Model and Benchmark for Multi-Species "
                 "Genome, ICLR 2024, arXiv:2306.15006; " + _HISTONE_CITATION,
        split_protocol="auto: GUE's train 11971 / dev 1497 / test 1497 when all three files are there, else "
                       "the files present pooled and re-split stratified 70/15/15 with seed 3264 (resplit)",
        sources=(SourceFile(GUE_H3_URL.format("train"), None, "train.csv"),
                 SourceFile(GUE_H3_URL.format("dev"),
                            "e6d6f827ff9258dde3fcbc575d6585de819c056d6d747950de53b2e793a1dde6", "dev.csv"),
                 SourceFile(GUE_H3_URL.format("test"),
                            "6c0997293f32ceff9084ef956b6389cad42e89072d6a0ce5f48c6b67589799c4", "test.csv")),
        homepage="https://github.com/MAGICS-LAB/DNABERT_2", family="gue", protocols=("auto", "gue", "resplit"),
        notes="dev/test sha256 pinned from the GUE copies checked here; train.csv unverified (not available here)."),
    build=build_histone_gue, defaults={"protocol": "auto"}))


# ----------------------------------------------------------------------------------- motif (Zeng et al.)
MOTIF_URL = "http://cnn.csail.mit.edu/motif_discovery/"
_MOTIF_CITATION = ("Zeng, Edwards, Liu & Gifford (2016), Convolutional neural network architectures for "
                   "predicting DNA-protein binding, Bioinformatics 32(12):i121-i127 (ISMB 2016)")
_MOTIF_PINS = {
    ("wgEncodeAwgTfbsBroadDnd41CtcfUniPk", "test.data"):
        "a2c9768b54d201e76821dd6a3aaf37b374a3f7ce9f2d15af977228ca2ceb6a55",
    ("wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk", "train.data"):
        "87f26ef9595ab2f69dfcc04d8e78c0ba782b353688165f1667e6e43ec115f884",
    ("wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk", "test.data"):
        "166cc590f1e63023ab50caf69971bf45bb23f5a363e8c6342b3f6a485234088d",
}


def _motif_experiment_builder(exp: str):
    def build(files, protocol: str = "default", seed: int = DEFAULT_SEED, ambiguity: Optional[str] = None,
              validation_fraction: float = 0.1):
        if protocol != "default":
            raise UserError(f"motif/{exp} has only the protocol 'default'")
        got = {r: read_columns(iter_zeng(files[r]), drop_n=True) for r in ("train.data", "test.data")
               if files.get(r) is not None}
        if not got:
            raise UserError(f"motif/{exp}: the source holds neither train.data nor test.data")
        for cols in got.values():
            cols["sequence"] = clean_sequences(cols["sequence"], ambiguity or "N", ids=cols["id"])
        if len(got) == 2:
            tr, va = carve_validation(_y(got["train.data"], BINARY), validation_fraction, seed=seed)
            dd = to_dataset_dict({"train": got["train.data"].take(tr), "validation": got["train.data"].take(va),
                                  "test": got["test.data"]}, BINARY, where=f"motif/{exp}")
            return dd, (f"train.data -> train + validation ({validation_fraction:.0%} carved, stratified, seed "
                        f"{seed}); test.data -> test; rows with N dropped")
        (role, cols), = got.items()
        parts = study_split(_y(cols, BINARY), seed=seed)
        return _split_dd(cols, BINARY, parts, f"motif/{exp}"), (
            f"only {role} in the source: stratified 70/15/15 split of it with seed {seed}; rows with N dropped")

    return build


def _motif_info(exp: str) -> BenchmarkInfo:
    srcs = tuple(SourceFile(f"{MOTIF_URL}{exp}/{r}", _MOTIF_PINS.get((exp, r)), f"{exp}/{r}")
                 for r in ("train.data", "test.data"))
    return BenchmarkInfo(
        name=f"motif/{exp}", task="binary classification (TF binding vs shuffled sequence)",
        description=f"ENCODE ChIP-seq experiment {exp} as prepared by Zeng et al. (2016): 101 bp peak sequences "
                    "(positive) against the same sequences shuffled (negative, '_shuf' in the name).",
        classes=BINARY, length=101, size=None, license="not stated by the distributors (research use)",
        citation=_MOTIF_CITATION,
        split_protocol="train.data -> train + 10% validation (stratified, seed 3264), test.data -> test; with "
                       "only one of the files, a stratified 70/15/15 split of it (seed 3264); rows with N dropped",
        sources=srcs, homepage="http://cnn.csail.mit.edu/", family="motif",
        notes="sha256 pinned for " + (", ".join(Path(s.path).name for s in srcs if s.sha256) or "no file") +
              "; others unverified.")


register_family("motif", lambda exp: Benchmark(info=_motif_info(exp), build=_motif_experiment_builder(exp)),
                lambda: sorted({e for e, _ in _MOTIF_PINS}))
# The study's two motif experiments by the tags of the models trained on them (``genonet_small.motif_ctcf``).
register_alias("motif_ctcf", "motif/wgEncodeAwgTfbsBroadDnd41CtcfUniPk")
register_alias("motif_ezh2", "motif/wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk")


def _interleaved(paths: list[tuple[str, Path]], need: int) -> Columns:
    """Rows of several Zeng files interleaved by row index (row 0 of every file, then row 1, ...), rows with N
    dropped, until ``need`` rows: the order the study's pandas concat + sort_index produced. Reads only the
    first rows of each file, doubling the window until enough rows are found."""
    window = 256
    while True:
        heads = [read_columns(itertools.islice(iter_zeng(p), window)) for _, p in paths]
        out = Columns(id=[], sequence=[], label=[], experiment=[])
        for i in range(window):
            for (exp, _), h in zip(paths, heads):
                if i < len(h) and "N" not in h["sequence"][i].upper():
                    out["id"].append(h["id"][i])
                    out["sequence"].append(h["sequence"][i])
                    out["label"].append(h["label"][i])
                    out["experiment"].append(exp)
        truncated = any(len(h) == window for h in heads)
        if len(out) >= need or not truncated:
            return out.take(range(min(need, len(out))))
        window *= 2


def build_motif_discovery(files, protocol: str = "default", seed: int = DEFAULT_SEED,
                          ambiguity: Optional[str] = None, per_experiment=(190, 10, 190)):
    if protocol != "default":
        raise UserError("motif_discovery has only the protocol 'default' (the study's)")
    exps = files["experiments"]
    trains = [(e, files[e]["train.data"]) for e in exps if files[e].get("train.data") is not None]
    tests = [(e, files[e]["test.data"]) for e in exps if files[e].get("test.data") is not None]
    if not trains or not tests:
        raise UserError("motif_discovery needs train.data and test.data files in the experiment folders")
    n_tr, n_va, n_te = per_experiment
    head = _interleaved(trains, len(trains) * (n_tr + n_va))
    test = _interleaved(tests, len(tests) * n_te)
    k = min(len(trains) * n_tr, len(head))
    cols = {"train": head.take(range(k)), "validation": head.take(range(k, len(head))), "test": test}
    for c in cols.values():
        c["sequence"] = clean_sequences(c["sequence"], ambiguity or "N", ids=c["id"])
    import datasets

    dd = datasets.DatasetDict({s: to_dataset(c, BINARY, where=f"motif_discovery ({s})") for s, c in cols.items()})
    text = (f"the study's protocol over {len(trains)} train / {len(tests)} test experiment files: rows interleaved "
            f"by row index across experiments (sorted by name), rows with N dropped; train = first "
            f"{len(trains)}x{n_tr}, validation = next {len(trains)}x{n_va}, test = first {len(tests)}x{n_te} "
            "rows of the test files")
    return dd, text


def resolve_motif_discovery(bench, source, cache_dir, revision, progress):
    """Experiment folders of a local ``source``, or the server's listing with every file downloaded."""
    from zoo.data.sources import DownloadError, fetch, fetch_listing

    if revision is not None:
        raise UserError("motif_discovery is downloaded from its original site, which has no revisions; drop "
                        "revision=")
    files: dict = {}
    if source is not None:
        root = Path(source)
        if not root.is_dir():
            raise UserError(f"source {str(root)!r} should be a folder of experiment folders holding "
                            "train.data / test.data")
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            got = {r: next((c for c in (d / r, d / (r + ".gz")) if c.is_file()), None)
                   for r in ("train.data", "test.data")}
            if any(got.values()):
                files[d.name] = got
        if not files:
            raise UserError(f"source {str(root)!r} holds no experiment folders with train.data or test.data")
    else:
        from tqdm.auto import tqdm

        for exp in tqdm(fetch_listing(MOTIF_URL, cache_dir), desc="motif_discovery", disable=not progress):
            got = {}
            for r in ("train.data", "test.data"):
                try:
                    got[r] = fetch(SourceFile(f"{MOTIF_URL}{exp}/{r}", _MOTIF_PINS.get((exp, r)), r), cache_dir,
                                   progress=False)
                except DownloadError as e:
                    if "HTTP 404" not in str(e):
                        raise
                    got[r] = None  # the study skipped experiments whose file could not be read
            files[exp] = got
    files["experiments"] = sorted(k for k in files)
    return files, None


register_benchmark(Benchmark(
    resolve=resolve_motif_discovery,
    info=BenchmarkInfo(
        name="motif_discovery", task="binary classification (TF binding vs shuffled sequence)",
        description="All 690 ENCODE ChIP-seq experiments of Zeng et al. (2016), concatenated as in the study. "
                    + _STUDY,
        classes=BINARY, length=101, size=690 * 390, license="not stated by the distributors (research use)",
        citation=_MOTIF_CITATION,
        split_protocol="the study's: experiments interleaved by row index, rows with N dropped; train = first "
                       "690x190 = 131,100 rows, validation = next 6,900, test = first 131,100 test rows",
        sources=(SourceFile(MOTIF_URL + "<experiment>/train.data"), SourceFile(MOTIF_URL + "<experiment>/test.data")),
        homepage="http://cnn.csail.mit.edu/", family="motif",
        notes="The experiment list is read from the server's folder listing; files are unverified except the "
              "three pinned for motif/<experiment>. A source= folder uses every experiment folder in it. The "
              "original used an unstable sort, so the order within a row index cannot be reproduced exactly."),
    build=build_motif_discovery))
