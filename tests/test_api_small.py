"""Small corners of the Python API a notebook user meets first: benchmark names by a published model's tag, an
Encoding that cannot encode anything, and the README's classifier contract."""
from __future__ import annotations

import pytest

import zoo
from zoo.data.registry import UnknownBenchmarkError, get_benchmark


@pytest.mark.parametrize("tag, name", [("motif_ctcf", "motif/wgEncodeAwgTfbsBroadDnd41CtcfUniPk"),
                                       ("MOTIF_EZH2", "motif/wgEncodeAwgTfbsBroadDnd41Ezh239875UniPk")])
def test_published_motif_tags_name_their_benchmark(tag, name):
    assert get_benchmark(tag).info.name == name
    assert zoo.data.benchmark_info(tag).name == name


def test_misspelt_tag_suggests_the_tag():
    with pytest.raises(UnknownBenchmarkError, match="did you mean motif_ctcf"):
        get_benchmark("motif_ctfc")


@pytest.mark.parametrize("field, value", [("length", 0), ("length", -5), ("length", 2.5), ("k", 0), ("region", -1),
                                          ("length", True)])
def test_encoding_refuses_sizes_that_encode_nothing(field, value):
    with pytest.raises(ValueError, match=f"encoding {field} must be a whole number"):
        zoo.Encoding("onehot", **{field: value})


def test_encoding_takes_numpy_integers_and_no_length():
    np = pytest.importorskip("numpy")
    assert zoo.Encoding("kmer_image", length=np.int64(60), k=np.int32(3)).length == 60
    assert zoo.Encoding("onehot").length is None


def test_every_architecture_has_the_classifier_the_readme_names():
    for arch in ("genonet_small_pos32_x3", "deepram_conv1d_onehot", "cnn_nguyen_2_conv2d"):
        model = zoo.create_model(arch, num_classes=2, seq_len=60)
        head = model.get_classifier()
        assert any(p.requires_grad for p in head.parameters())


def test_data_report_says_a_single_class_and_splits_too_small_to_measure():
    import datasets

    from zoo.data.quality import quality_report

    rows = {"sequence": ["ACGT" * 25] * 3, "label": [1, 1, 1]}
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows),
                               "test": datasets.Dataset.from_dict({k: v[:1] for k, v in rows.items()})})
    warnings = quality_report(dd)["warnings"]
    assert "train: every row is of one class ('1'): a classifier trained on it learns nothing" in warnings
    assert any(w.startswith("the test split holds only 1 sequence; with fewer than 20 sequences") for w in warnings)
    unlabelled = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sequence": ["ACGT"] * 30})})
    assert not any("one class" in w for w in quality_report(unlabelled)["warnings"])
