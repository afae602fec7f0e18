"""Paragraph vectors (doc2vec, PV-DBOW) of DNA sequences written as overlapping k-mer "words", without pickle.

The study fed gensim ``Doc2Vec`` vectors of k-mer words to an MLP. gensim saves its models with pickle, which
genozoo never reads, so this module splits doc2vec in two:

* fitting (:func:`fit_paragraph_vectors`) trains gensim's ``Doc2Vec`` in PV-DBOW mode with negative sampling and
  keeps only what inference needs, as plain arrays in a fixed word order (every ``4**k`` k-mer, lexicographic,
  the order of :func:`zoo.encoding.kmer_index`): the output weights (gensim's ``syn1neg``) and the negative
  sampling distribution (word counts to the power ``0.75``). The classifier stores them as buffers, so they travel
  in ``model.safetensors``;
* inference (:func:`infer_paragraph_vectors`) is torch code over those arrays: a document's vector ``d`` minimizes
  the PV-DBOW negative-sampling loss of its words with the output weights frozen (Le & Mikolov's inference step),
  with the sampled negatives replaced by their expectation and a small L2 penalty, so the answer is deterministic
  and unique; a few damped Newton steps solve it. gensim is not needed to predict.

PV-DBOW ignores word order, so a document enters only through its k-mer counts. On toy data the vectors point the
same way as gensim's own ``infer_vector`` on the same fitted model (mean cosine 0.92 on a 40-bp
planted-motif set, three gensim seeds; the test asks for more than 0.8).
"""
from __future__ import annotations

import itertools
import numpy as np
import torch
import torch.nn.functional as F

from zoo.encoding import TOKENS

__all__ = ["kmer_words", "kmer_counts", "vocabulary", "documents", "fit_paragraph_vectors", "train_doc2vec",
           "arrays_from_gensim", "infer_paragraph_vectors", "NS_EXPONENT"]

#: gensim's default exponent of the negative-sampling distribution (word counts ** 0.75).
NS_EXPONENT = 0.75
_FIRST_BASE_TOKEN = TOKENS.index("A")


def vocabulary(k: int) -> list[str]:
    """Every k-mer over ``ACGT`` in word-id order (``A=0 C=1 G=2 T=3``, most significant base first)."""
    return ["".join(p) for p in itertools.product("ACGT", repeat=k)]


def kmer_words(x: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, L)`` tokens -> ``(N, L-k+1)`` word ids in ``[0, 4**k)``; ``-1`` where the window holds N or PAD."""
    base = x.long() - _FIRST_BASE_TOKEN
    ok = (base >= 0) & (base <= 3)
    base = base.clamp(0, 3)
    P = x.shape[1] - k + 1
    if P < 1:
        raise ValueError(f"sequences of length {x.shape[1]} are shorter than k={k}")
    ids = torch.zeros(x.shape[0], P, dtype=torch.long, device=x.device)
    valid = torch.ones(x.shape[0], P, dtype=torch.bool, device=x.device)
    for j in range(k):
        ids = ids * 4 + base[:, j:j + P]
        valid &= ok[:, j:j + P]
    return ids.masked_fill(~valid, -1)


def kmer_counts(x: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, L)`` tokens -> ``(N, 4**k)`` float counts of the valid k-mer words of each row."""
    ids = kmer_words(x, k)
    valid = ids >= 0
    counts = torch.zeros(x.shape[0], 4 ** k, device=x.device)
    return counts.scatter_add_(1, ids.clamp(min=0), valid.float())


def _objective(d: torch.Tensor, counts: torch.Tensor, expected_neg: torch.Tensor, out_weights: torch.Tensor,
               l2: float) -> torch.Tensor:
    """The loss :func:`infer_paragraph_vectors` minimizes, of paragraph vectors ``d`` ``(N, D)``."""
    return _score_loss(d @ out_weights.T, counts, expected_neg, 0.5 * l2 * (d * d).sum(1))


def _score_loss(s: torch.Tensor, counts: torch.Tensor, expected_neg: torch.Tensor, penalty: torch.Tensor
                ) -> torch.Tensor:
    """The same loss of the word scores ``s = U d`` ``(N, V)``, given its L2 term ``l2/2 |d|^2`` ``(N,)``."""
    return -(counts * F.logsigmoid(s)).sum(1) - (expected_neg * F.logsigmoid(-s)).sum(1) + penalty


@torch.no_grad()
def infer_paragraph_vectors(counts: torch.Tensor, out_weights: torch.Tensor, noise: torch.Tensor, *,
                            negative: int = 5, l2: float = 1.0, iters: int = 8) -> torch.Tensor:
    """Paragraph vectors ``(N, D)`` of documents given by word counts ``(N, V)``, with frozen output weights
    ``(V, D)`` and negative-sampling distribution ``(V,)``; computed in float64, returned in ``out_weights``' dtype
    (the model's: float32, or what ``.double()`` / ``.half()`` made it).

    Minimizes, per document, ``-sum_v c_v log s(u_v.d) - K n sum_v q_v log s(-u_v.d) + l2/2 |d|^2`` (``s`` the
    sigmoid, ``n`` the number of words, ``K = negative``): PV-DBOW's loss with its ``K`` sampled negatives per word
    replaced by their expectation. The loss is strictly convex, so damped Newton steps from ``d = 0`` converge
    (5 steps reach float32 precision on typical data).

    Newton's method is invariant under an invertible linear change of variables, and every iterate from ``d = 0``
    lies in the row space of ``U`` (the gradients and the Hessians' images do). When ``U`` has fewer rows than
    columns and full row rank (3-mers: 64 words, 100 dimensions), the iteration therefore runs, exactly, on the
    word scores ``s = U d`` themselves, where the Hessian is ``diag(w) + l2 (U U^T)^-1``: no ``V x D x D``
    product per document and step, and ``V x V`` instead of ``D x D`` solves (about 5x faster); ``d`` is mapped
    back at the end (``d = U^T (U U^T)^-1 s``). Otherwise it runs on ``d``.
    """
    # float64: float32 rounding of a loss summed over hundreds of words stalls the damping test near the optimum.
    counts = counts.double()
    U = out_weights.double()
    V, D = U.shape
    n = counts.sum(1, keepdim=True)
    expected_neg = negative * n * noise.double()[None, :]
    gram_inv = _gram_inverse(U) if V < D else None
    if gram_inv is not None:  # the variable is s (N, V); penalty l2/2 s^T G^-1 s
        Q, to_scores = gram_inv, None
    else:  # the variable is d (N, D); penalty l2/2 |d|^2
        Q, to_scores = torch.eye(D, dtype=U.dtype, device=U.device), U
    y = torch.zeros(counts.shape[0], Q.shape[0], dtype=U.dtype, device=U.device)

    def scores(y: torch.Tensor) -> torch.Tensor:
        return y if to_scores is None else y @ to_scores.T

    def loss(y: torch.Tensor) -> torch.Tensor:
        return _score_loss(scores(y), counts, expected_neg, 0.5 * l2 * ((y @ Q) * y).sum(1))

    f = loss(y)
    for _ in range(iters):
        sig = torch.sigmoid(scores(y))
        r = counts * (1 - sig) - expected_neg * sig  # minus the loss's gradient with respect to the scores
        weight = (counts + expected_neg) * sig * (1 - sig)
        if to_scores is None:
            grad = -r + l2 * (y @ Q)
            hess = (l2 * Q).expand(len(y), -1, -1).clone()
            hess.diagonal(dim1=1, dim2=2).add_(weight)
        else:
            grad = -(r @ U) + l2 * y
            hess = (weight[:, :, None] * U).transpose(1, 2) @ U + l2 * Q
        # The Hessian is symmetric positive definite (l2 > 0): a Cholesky solve, half an LU's work.
        chol, info = torch.linalg.cholesky_ex(hess)
        if bool(info.any()):
            step = torch.linalg.solve(hess, grad.unsqueeze(-1)).squeeze(-1)
        else:
            step = torch.cholesky_solve(grad.unsqueeze(-1), chol).squeeze(-1)
        # Damping: keep the best of a few step lengths, and only if it lowers the loss.
        best, best_f = y, f
        for t in (1.0, 0.5, 0.25, 0.125):
            cand = y - t * step
            cand_f = loss(cand)
            better = cand_f < best_f
            best = torch.where(better[:, None], cand, best)
            best_f = torch.where(better, cand_f, best_f)
        y, f = best, best_f
    return (y if to_scores is not None else y @ gram_inv @ U).to(out_weights.dtype)  # the model's dtype


def _gram_inverse(U: torch.Tensor) -> torch.Tensor | None:
    """``(U U^T)^-1`` when ``U`` has full row rank and that inverse is well conditioned in float64, else None."""
    gram = U @ U.T
    sv = torch.linalg.svdvals(gram)
    if sv.numel() == 0 or sv[-1] <= sv[0] * 1e-9:  # words never seen (zero rows) or nearly dependent ones
        return None
    return torch.linalg.inv(gram)


def fit_paragraph_vectors(x: torch.Tensor, k: int, vector_size: int, *, negative: int = 5, epochs: int = 20,
                          seed: int = 0, workers: int = 1, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Train gensim ``Doc2Vec`` on token rows ``x`` (:func:`train_doc2vec`) and keep its inference arrays
    (:func:`arrays_from_gensim`): ``(out_weights (4**k, vector_size), noise (4**k,))``."""
    model = train_doc2vec(x, k, vector_size, negative=negative, epochs=epochs, seed=seed, workers=workers,
                          progress=progress)
    return arrays_from_gensim(model, k)


def documents(x: torch.Tensor, k: int) -> list[list[str]]:
    """Token rows as lists of k-mer words (windows holding N or PAD left out)."""
    words = np.asarray(vocabulary(k), dtype=object)
    ids = kmer_words(x.cpu(), k).numpy()
    return [list(words[row[row >= 0]]) for row in ids]


def train_doc2vec(x: torch.Tensor, k: int, vector_size: int, *, negative: int = 5, epochs: int = 20,
                  seed: int = 0, workers: int = 1, progress: bool = True):
    """A gensim ``Doc2Vec`` in PV-DBOW mode with negative sampling, trained on token rows ``x`` as k-mer words.

    Frequent-word downsampling is off (``sample=0``): with ``4**k`` words every word is "frequent" and would be
    mostly dropped. One worker keeps a fit reproducible. The model is returned, never saved (gensim pickles).
    """
    try:
        from gensim.models.callbacks import CallbackAny2Vec
        from gensim.models.doc2vec import Doc2Vec, TaggedDocument
    except ImportError as e:  # gensim is the optional extra "nlp"
        raise ModuleNotFoundError("fitting doc2vec needs gensim: pip install 'genozoo[nlp]'", name="gensim") from e
    from tqdm.auto import tqdm

    docs = [TaggedDocument(words, [i]) for i, words in enumerate(documents(x, k))]
    if not any(d.words for d in docs):
        raise ValueError(f"no valid {k}-mer in the training sequences (all N or shorter than k)")
    bar = tqdm(total=epochs, desc="doc2vec", disable=not progress, leave=False)

    class _Progress(CallbackAny2Vec):
        def on_epoch_end(self, model) -> None:  # noqa: ANN001 - gensim's signature
            bar.update()

    try:
        return Doc2Vec(documents=docs, dm=0, vector_size=vector_size, negative=negative, hs=0, min_count=1,
                       sample=0, ns_exponent=NS_EXPONENT, epochs=epochs, seed=seed, workers=workers,
                       callbacks=[_Progress()])
    finally:
        bar.close()


def arrays_from_gensim(model, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(out_weights (4**k, D), noise (4**k,))`` of a trained PV-DBOW gensim model in :func:`vocabulary` order;
    words never seen keep zero weights and zero noise probability."""
    V = 4 ** k
    out_weights = np.zeros((V, model.vector_size), dtype=np.float32)
    counts = np.zeros(V, dtype=np.float64)
    index = {w: i for i, w in enumerate(vocabulary(k))}
    for j, word in enumerate(model.wv.index_to_key):
        out_weights[index[word]] = model.syn1neg[j]
        counts[index[word]] = model.wv.get_vecattr(word, "count")
    noise = counts ** NS_EXPONENT
    return out_weights, (noise / noise.sum()).astype(np.float32)
