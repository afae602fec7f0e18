"""A published model cast with ``.double()``, ``.half()`` or ``.bfloat16()`` predicts, in that dtype: through
``model.predict`` (the fast inference paths: gathered kernels, GenoNet's TorchScript pass, doc2vec's Newton steps)
and through the plain forward on the encoded input (float32 one-hot or uint8 k-mer one-hot, which the models
convert to their parameters' dtype). float64 gives the float32 probabilities within 1e-5; float16 and bfloat16
within what their precision allows. bfloat16 keeps 8 bits of mantissa: on 200 splice sequences the worst model,
``lstm_ae_mlp`` (a 60-step LSTM), moved a probability by 0.03 from rounding its weights alone and by 0.1 computing
in bfloat16 (float16: 0.02; every other model at most 0.025 in bfloat16). One published model per architecture,
taken from the registry."""
from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import pytest
import torch

import zoo
from zoo.encoding import encode_codes, to_codes

#: One published weight of every architecture: its splice one (60 bp, the quickest) where there is one.
PUBLISHED = list({name.split(".")[0]: name for name in sorted(zoo.list_models(pretrained=True),
                                                              key=lambda n: n.endswith(".splice"))}.values())
DTYPES = {torch.float64: 1e-5, torch.float16: 3e-2, torch.bfloat16: 0.15}


@functools.lru_cache(maxsize=None)
def _reference(name: str):
    """The float32 model, its test sequences, probabilities through predict and through the plain forward."""
    model = zoo.create_model(name, pretrained=True).eval()
    rng = np.random.default_rng(0)
    L = model.encoding.length
    seqs = ["".join(rng.choice(list("ACGTN"), p=[0.24] * 4 + [0.04], size=L)) for _ in range(8)]
    seqs[1] = seqs[1][: L // 2]  # padded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predicted = model.predict(seqs).probabilities  # also leaves the fast paths' float32 caches behind
    enc = model.encoding
    codes = to_codes(seqs, enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity)
    with torch.inference_mode():
        plain = model.probabilities(model(encode_codes(codes, enc))).numpy()
    return model, seqs, codes, predicted, plain


@pytest.mark.parametrize("dtype", list(DTYPES), ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name", PUBLISHED)
def test_a_cast_model_predicts_in_its_dtype(name, dtype):
    base, seqs, codes, predicted, plain = _reference(name)
    model = copy.deepcopy(base).to(dtype)  # the float32 caches come along and must not be used
    tol = DTYPES[dtype]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = model.predict(seqs)
    assert got.probabilities.dtype == np.float32
    np.testing.assert_allclose(got.probabilities, predicted, rtol=0, atol=tol)
    enc = model.encoding
    with torch.inference_mode():
        logits = model(encode_codes(codes, enc))  # the encoded input as zoo.encoding builds it
        fast = model.inference_forward(model.fast_input(codes))
    assert logits.dtype == fast.dtype == dtype  # computed in the model's dtype, not silently in float32
    np.testing.assert_allclose(model.probabilities(logits).numpy(), plain, rtol=0, atol=tol)
    # Cast back, the model is the float32 one again (no stale derived weights of the other dtype).
    if dtype == torch.float64:
        back = model.float()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_allclose(back.predict(seqs).probabilities, predicted, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["genonet_small.splice", "cnn_nguyen_conv1d_2_conv2d.splice"])
def test_attributions_of_a_double_model(name):
    from zoo.explain import attribute

    model = zoo.create_model(name, pretrained=True).eval()
    seqs = ["ACGTTGCAAC" * 6, "TTGACCAGTA" * 6]
    ref = np.asarray(attribute(model, seqs, "saliency").matrices)
    got = np.asarray(attribute(model.double(), seqs, "saliency").matrices)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
