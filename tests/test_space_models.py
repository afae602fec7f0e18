"""Every published model through the space's API, launched for real on 127.0.0.1 and called with ``gradio_client``:
``/predict`` by name for a model of every task (whatever the page shows), ``/compare`` for every task, and
``/explain`` with every method of every model: the methods a model supports work and the logo's caption names
the method used, the others are refused with one sentence, and the default works.

Skips where no published model is installed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_space import served  # noqa: E402

PUBLISHED = zoo.list_models(pretrained=True)
pytestmark = pytest.mark.skipif(not PUBLISHED, reason="no published models installed")


@pytest.fixture(scope="module")
def space():
    from genozoo_space import Catalogue, Limits

    with served(Catalogue(None, "cpu", Limits(max_sequences=10, max_length=1000), max_models=4)) as pair:
        yield pair


def _fasta(ids, seqs) -> str:
    return "\n".join(f">{i}\n{s}" for i, s in zip(ids, seqs))


def test_every_task_by_name(space):
    """The page opens on the first task; a model of every other task still answers /predict by its name."""
    cat, client = space
    assert sorted(cat.entries) == sorted(set(PUBLISHED) | set(cat.entries))
    for task in cat.tasks():
        name = cat.models_for(task)[-1]  # not the page's default model
        ids, seqs = cat.examples(task, n=3)
        status, table, *_ = client.predict(name, _fasta(ids, seqs), None, api_name="/predict")
        assert f"`{name}`" in status
        probs = np.array([r[2:2 + len(cat.entry(name).label_names)] for r in table["data"]], dtype=float)
        expected = zoo.create_model(name, pretrained=True).predict(seqs).probabilities
        np.testing.assert_allclose(probs, expected, atol=1e-4)


def test_wrong_name_lists_the_task_models(space):
    from gradio_client.exceptions import AppError

    cat, client = space
    task = cat.tasks()[-1]
    with pytest.raises(AppError) as err:
        client.predict(f"no_such_arch.{task}", "ACGT" * 10, None, api_name="/predict")
    msg = str(err.value)
    assert f"is not offered for task {task}; pick one of {', '.join(cat.models_for(task))}" in msg
    assert "Traceback" not in msg and "UserError" not in msg
    with pytest.raises(AppError, match="give a name ARCH.TASK with TASK one of"):
        client.predict("nonsense", "ACGT" * 10, None, api_name="/predict")
    with pytest.raises(AppError, match="task 'nope' is not offered by this space; pick one of"):
        client.predict("nope", "ACGT" * 10, None, api_name="/compare")


def test_compare_every_task(space):
    cat, client = space
    for task in cat.tasks():
        ids, seqs = cat.examples(task, n=2)
        out = client.predict(task, _fasta(ids, seqs), None, api_name="/compare")
        names = cat.models_for(task)
        assert len(out["data"]) == 2 * len(names)
        assert sorted({r[1] for r in out["data"]}) == sorted(names)


def test_explain_every_model_every_method(space):
    """All published models, small inputs: every supported method draws a logo whose caption names it; the
    default (no method given) is the first supported one and works; the rest are refused in one sentence."""
    from gradio_client.exceptions import AppError
    from PIL import Image

    from zoo.explain import METHOD_TITLES, METHODS

    cat, client = space
    gradient_free = set()
    for name in PUBLISHED:
        task = cat.entry(name).task
        ids, seqs = cat.examples(task, n=1)
        seq = seqs[0][:24]  # small: a short logo, few mutants
        text = f">probe\n{seq}"
        methods = cat.methods(name)
        assert methods[-1] == "ism" and set(methods) <= set(METHODS), (name, methods)
        if methods == ("ism",):
            gradient_free.add(cat.entry(name).cfg.arch)
        for method in METHODS:
            if method in methods:
                path, caption = client.predict(name, text, None, "probe", method, api_name="/explain")
                assert METHOD_TITLES[method] in caption and name in caption, (name, method, caption)
                with Image.open(path) as im:
                    assert im.size[0] > 300 and len(im.convert("RGB").getcolors(1 << 20)) > 5
            else:
                with pytest.raises(AppError, match=r"does not support attribution method .*it offers ism"):
                    client.predict(name, text, None, "probe", method, api_name="/explain")
        path, caption = client.predict(name, text, None, "", "", api_name="/explain")
        assert METHOD_TITLES[methods[0]] in caption
    # The models whose input the gradients cannot reach: the BERTs (re-tokenize) and doc2vec (Newton steps).
    assert gradient_free <= {"bert_tiny_nt", "bert_tiny_kmer3", "doc2vec_mlp"}, gradient_free
