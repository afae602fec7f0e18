"""The study's NLP-style models: an LSTM classifier, an LSTM autoencoder whose codes feed an MLP, and paragraph
vectors (doc2vec) of k-mer "words" feeding the same MLP.

Zhang, Cheng & Solis-Lemus (BMC Bioinformatics 2022, "The NLP-style models") built these in Keras next to the 13
CNN/RNN architectures. This module owns the three classifiers, the autoencoder and the registered builders of
the family ``nlp``; the paragraph-vector mathematics (fitting with gensim, inference in torch) lives in
:mod:`zoo.models.doc2vec`.

Contract: every model takes tokens ``(N, L)`` int64 over :data:`zoo.encoding.TOKENS` (``kind="tokens"``).
Classifiers return logits ``(N, 1)`` (binary) or ``(N, num_classes)``. The autoencoder is not a classifier
(``is_classifier = False``): its forward returns reconstruction logits ``(N, L, 4)`` over ``A C G T``.

Two of the models need an unsupervised step on the training sequences before supervised training, exposed as
one hook; training code runs it when ``getattr(model, "requires_pretraining", False) and not model.is_pretrained``::

    model.pretrain(train_sequences)   # lstm_ae_mlp: fits an autoencoder, copies and freezes its encoder
                                      # doc2vec_mlp: fits gensim Doc2Vec, keeps its learned arrays

``is_pretrained`` is stored in the weights (a buffer), so a published model is never pretrained again.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.encoding import PAD_TOKEN, TOKENS, Encoding, encode
from zoo.models.base import ZooModel
from zoo.models import doc2vec as pv
from zoo.models.paper_cnn import keras_init_
from zoo.registry import register_model

__all__ = ["MLP_WIDTHS", "mlp", "LstmEncoder", "LstmClassifier", "LstmAutoencoder", "TwoStageClassifier",
           "LstmAeClassifier", "Doc2VecClassifier", "fit_autoencoder", "as_tokens"]

#: The study's classifier on top of every NLP representation: Dense 128-64-32-16, ReLU, Dropout 0.2 after each.
MLP_WIDTHS = (128, 64, 32, 16)
#: Token ids of A, C, G, T in :data:`zoo.encoding.TOKENS` (2..5); the autoencoder's 4 classes in this order.
_FIRST_BASE_TOKEN = TOKENS.index("A")


def mlp(in_dim: int, widths: Sequence[int] = MLP_WIDTHS, dropout: float = 0.2) -> nn.Sequential:
    """Dense + ReLU + Dropout for each width (the study's NLP classifier body, without its head)."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(in_dim, int(w)), nn.ReLU(), nn.Dropout(dropout)]
        in_dim = int(w)
    return nn.Sequential(*layers)


def as_tokens(sequences: Sequence[str] | torch.Tensor, encoding: Encoding) -> torch.Tensor:
    """Raw sequences (cleaned and padded/cropped by ``encoding``) or an already encoded token batch."""
    if isinstance(sequences, torch.Tensor):
        return sequences.long()
    return encode(list(sequences), encoding)


class LstmEncoder(nn.Module):
    """Embedding + LSTM; the code of a sequence is the LSTM's output at its last non-PAD position."""

    def __init__(self, embed_dim: int = 30, hidden: int = 30):
        super().__init__()
        self.embedding = nn.Embedding(len(TOKENS), embed_dim, padding_idx=PAD_TOKEN)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(x))
        # Right-padded batches would otherwise end on PAD steps; for full-length rows this is the last step.
        real = (x != PAD_TOKEN).long()
        positions = torch.arange(1, x.shape[1] + 1, device=x.device)
        last = ((real * positions).amax(dim=1) - 1).clamp(min=0)
        return out[torch.arange(x.shape[0], device=x.device), last]


class LstmClassifier(ZooModel):
    """``lstm_baseline``: Embedding 30, LSTM 30 (last state), Dense 128-64-32-16 (ReLU, Dropout 0.2), head."""

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 embed_dim: int = 30, hidden: int = 30, mlp_widths: Sequence[int] = MLP_WIDTHS,
                 dropout: float = 0.2):
        super().__init__(num_classes, seq_len, label_names)
        self.encoder = LstmEncoder(embed_dim, hidden)
        self.mlp = mlp(hidden, mlp_widths, dropout)
        self.head = nn.Linear(int(mlp_widths[-1]) if mlp_widths else hidden, self.num_outputs)
        keras_init_(self)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="tokens", length=self.seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(self.encoder(x)))


class LstmAutoencoder(ZooModel):
    """``lstm_autoencoder``: encoder Embedding 30 + LSTM 30 -> 30-dim code; decoder repeats the code ``L`` times,
    LSTM 30, per-position Dense 4 (softmax over ``A C G T``), trained to reconstruct the input.

    Not a classifier (``is_classifier = False``): ``forward`` returns reconstruction logits ``(N, L, 4)``;
    ``num_classes`` and ``label_names`` are accepted only so the registry and the hub treat it like every model.
    Train it with :func:`fit_autoencoder` (or :meth:`reconstruction_loss` in your own loop), then build the
    classifier with :meth:`LstmAeClassifier.from_autoencoder`.
    """

    is_classifier = False

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 embed_dim: int = 30, hidden: int = 30):
        super().__init__(num_classes, seq_len, label_names)
        self.embed_dim, self.hidden = int(embed_dim), int(hidden)
        self.encoder = LstmEncoder(embed_dim, hidden)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 4)
        keras_init_(self)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="tokens", length=self.seq_len)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, L)`` tokens -> ``(N, hidden)`` codes."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(x)
        out, _ = self.decoder(code.unsqueeze(1).expand(-1, x.shape[1], -1))  # Keras RepeatVector(L)
        return self.head(out)

    def reconstruction_loss(self, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy of the reconstruction over ``A C G T``; PAD and N positions are ignored."""
        target = x.long() - _FIRST_BASE_TOKEN
        target = target.masked_fill((target < 0) | (target > 3), -100)
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, 4), target.reshape(-1), ignore_index=-100, reduction=reduction)

    def reset_classifier(self, num_classes: int, label_names: Sequence[str] | None = None) -> None:
        raise TypeError("the LSTM autoencoder has no classifier; build one with LstmAeClassifier.from_autoencoder")


def fit_autoencoder(ae: LstmAutoencoder, sequences: Sequence[str] | torch.Tensor, *, epochs: int = 10,
                    batch_size: int = 256, lr: float = 1e-3, seed: int = 0, device: str | torch.device | None = None,
                    progress: bool = True) -> list[float]:
    """Train ``ae`` to reconstruct ``sequences`` with Adam; returns the mean loss of every epoch."""
    from tqdm.auto import tqdm

    x = as_tokens(sequences, ae.encoding)
    device = torch.device(device) if device is not None else next(ae.parameters()).device
    ae.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    history = []
    steps = math.ceil(len(x) / batch_size)
    with tqdm(total=epochs * steps, desc="autoencoder", disable=not progress, leave=False) as bar:
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for i in range(0, len(x), batch_size):
                batch = x[order[i:i + batch_size]].to(device)
                loss = ae.reconstruction_loss(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
                bar.update()
            history.append(total / len(x))
            bar.set_postfix(loss=f"{history[-1]:.4f}")
    ae.eval()
    return history


class TwoStageClassifier(ZooModel):
    """A classifier on tokens whose representation is fitted on unlabelled sequences first (:meth:`pretrain`).

    Owns the hook's shared state: ``requires_pretraining``, the ``pretrain_done`` buffer (saved with the weights,
    so a loaded model knows its first stage was fitted) and the token encoding.
    """

    requires_pretraining = True

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None):
        super().__init__(num_classes, seq_len, label_names)
        self.register_buffer("pretrain_done", torch.zeros((), dtype=torch.uint8))

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="tokens", length=self.seq_len)

    @property
    def is_pretrained(self) -> bool:
        return bool(self.pretrain_done.item())

    def pretrain(self, sequences: Sequence[str] | torch.Tensor, **kwargs: Any) -> dict[str, Any]:
        """Fit the first stage on ``sequences`` (labels unused), then mark the model pretrained."""
        raise NotImplementedError


class LstmAeClassifier(TwoStageClassifier):
    """``lstm_ae_mlp``: the encoder of an :class:`LstmAutoencoder` (frozen by default) + Dense 128-64-32-16
    (ReLU, Dropout 0.2) + head. The study classified frozen codes (SGD lr 0.001, momentum 0.9).

    Build it from a trained autoencoder with :meth:`from_autoencoder`, or call :meth:`pretrain` with training
    sequences, which fits the autoencoder first: ``ae_steps`` Adam steps (lr 1e-3) of ``ae_batch_size``
    sequences, rounded up to whole epochs. The study tried batches of 32, 256 and 1024 and does not state how long
    its autoencoder trained. The budget decides the model: a 30-number code of a 60 bp splice sequence only
    becomes informative after thousands of steps. With 80 steps (10 epochs of 256) the reconstruction loss stayed
    at 1.33 (a uniform guess is ln 4 = 1.39) and the classifier scored 0.60 on the splice test set; with the
    default 12,800 steps of 32 (200 epochs) it reached 1.09 and 0.81, the study's figure (0.810).
    """

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 embed_dim: int = 30, hidden: int = 30, mlp_widths: Sequence[int] = MLP_WIDTHS,
                 dropout: float = 0.2, freeze_encoder: bool = True, ae_steps: int = 12_800,
                 ae_batch_size: int = 32):
        super().__init__(num_classes, seq_len, label_names)
        self.embed_dim, self.hidden = int(embed_dim), int(hidden)
        self.freeze_encoder = bool(freeze_encoder)
        self.ae_steps, self.ae_batch_size = int(ae_steps), int(ae_batch_size)
        self.encoder = LstmEncoder(embed_dim, hidden)
        self.mlp = mlp(hidden, mlp_widths, dropout)
        self.head = nn.Linear(int(mlp_widths[-1]) if mlp_widths else hidden, self.num_outputs)
        keras_init_(self)
        self.encoder.requires_grad_(not self.freeze_encoder)

    def load_encoder(self, ae: LstmAutoencoder) -> "LstmAeClassifier":
        """Copy the encoder weights of a trained autoencoder (sizes must match)."""
        if (ae.embed_dim, ae.hidden) != (self.embed_dim, self.hidden):
            raise ValueError(f"autoencoder sizes (embed {ae.embed_dim}, hidden {ae.hidden}) differ from the "
                             f"classifier's (embed {self.embed_dim}, hidden {self.hidden})")
        self.encoder.load_state_dict(ae.encoder.state_dict())
        self.pretrain_done.fill_(1)
        return self

    @classmethod
    def from_autoencoder(cls, ae: LstmAutoencoder, num_classes: int = 2,
                         label_names: Sequence[str] | None = None, **kwargs: Any) -> "LstmAeClassifier":
        """A classifier whose encoder is a copy of ``ae``'s (frozen unless ``freeze_encoder=False``)."""
        model = cls(num_classes, ae.seq_len, label_names, embed_dim=ae.embed_dim, hidden=ae.hidden, **kwargs)
        return model.load_encoder(ae)

    def pretrain(self, sequences: Sequence[str] | torch.Tensor, *, epochs: int | None = None,
                 batch_size: int | None = None, lr: float = 1e-3, seed: int = 0,
                 device: str | torch.device | None = None, progress: bool = True) -> dict[str, Any]:
        """Fit an autoencoder on ``sequences`` (labels unused) and copy its encoder; returns its loss history.
        ``epochs``/``batch_size`` default to the model's budget: ``ae_steps`` steps of ``ae_batch_size``."""
        batch_size = batch_size or self.ae_batch_size
        if epochs is None:
            epochs = max(1, math.ceil(self.ae_steps / max(1, math.ceil(len(sequences) / batch_size))))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ae = LstmAutoencoder(self.num_classes, self.seq_len, embed_dim=self.embed_dim, hidden=self.hidden)
        history = fit_autoencoder(ae, sequences, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                  device=device or self.head.weight.device, progress=progress)
        self.load_encoder(ae)
        return {"reconstruction_loss": history}

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The autoencoder codes ``(N, hidden)`` the MLP classifies."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(self.encoder(x)))


class Doc2VecClassifier(TwoStageClassifier):
    """``doc2vec_mlp``: paragraph vectors of overlapping k-mer words + Dense 128-64-32-16 (ReLU, Dropout 0.2) +
    head. The weakest model of the study (test accuracy .539 splice, .600 histone H3, .529 motif discovery,
    best of four vector sizes; PAPER.md), kept as the baseline every other model should beat.

    ``forward`` takes tokens like every genozoo model: it counts the k-mer words of each row and infers their
    paragraph vectors under ``no_grad`` (:func:`zoo.models.doc2vec.infer_paragraph_vectors`, from the fitted
    output weights stored as buffers ``word_out`` and ``noise``), then classifies them; only the MLP and head
    train. :meth:`pretrain` fits the paragraph-vector model with gensim (PV-DBOW, negative sampling). Before it,
    ``word_out`` holds random values (like any untrained layer) and ``is_pretrained`` is false.
    """

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 k: int = 3, vector_size: int = 100, negative: int = 5, doc2vec_epochs: int = 20,
                 infer_l2: float = 1.0, infer_iters: int = 8, mlp_widths: Sequence[int] = MLP_WIDTHS,
                 dropout: float = 0.2):
        super().__init__(num_classes, seq_len, label_names)
        if not 1 <= k <= seq_len:
            raise ValueError(f"k must be between 1 and seq_len ({seq_len}), not {k}")
        self.k, self.vector_size, self.negative = int(k), int(vector_size), int(negative)
        self.doc2vec_epochs, self.infer_l2, self.infer_iters = int(doc2vec_epochs), float(infer_l2), int(infer_iters)
        V = 4 ** self.k
        self.register_buffer("word_out", torch.randn(V, self.vector_size) / math.sqrt(self.vector_size))
        self.register_buffer("noise", torch.full((V,), 1.0 / V))
        self.mlp = mlp(self.vector_size, mlp_widths, dropout)
        self.head = nn.Linear(int(mlp_widths[-1]) if mlp_widths else self.vector_size, self.num_outputs)
        keras_init_(self)

    def paragraph_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, L)`` tokens -> ``(N, vector_size)`` inferred paragraph vectors (no gradient)."""
        counts = pv.kmer_counts(x, self.k)
        return pv.infer_paragraph_vectors(counts, self.word_out, self.noise, negative=self.negative,
                                          l2=self.infer_l2, iters=self.infer_iters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(self.paragraph_vectors(x)))

    def pretrain(self, sequences: Sequence[str] | torch.Tensor, *, epochs: int | None = None, seed: int = 0,
                 workers: int = 1, progress: bool = True, **_: Any) -> dict[str, Any]:
        """Fit the paragraph-vector model on ``sequences`` (labels unused) with gensim and keep its arrays.

        Extra keyword arguments of the common ``pretrain`` hook (``batch_size``, ``lr``, ``device``) do not apply
        to gensim and are ignored.
        """
        x = as_tokens(sequences, self.encoding)
        out_weights, noise = pv.fit_paragraph_vectors(
            x, self.k, self.vector_size, negative=self.negative, epochs=epochs or self.doc2vec_epochs, seed=seed,
            workers=workers, progress=progress)
        self.word_out.copy_(torch.from_numpy(out_weights))
        self.noise.copy_(torch.from_numpy(noise))
        self.pretrain_done.fill_(1)
        return {"words": int((self.noise > 0).sum()), "documents": len(x)}


# ------------------------------------------------------------------------------------------------ registry
def _create(cls: type[ZooModel], defaults: dict[str, Any], kwargs: dict[str, Any]) -> ZooModel:
    """Build ``cls`` from the variant's defaults overridden by the caller's arguments."""
    return cls(**{**defaults, **kwargs})


@register_model(family="nlp")
def lstm_baseline(**kwargs: Any) -> LstmClassifier:
    """Embedding 30, LSTM 30 (last state), Dense 128-64-32-16 (ReLU, Dropout 0.2 each), head; token input."""
    return _create(LstmClassifier, dict(embed_dim=30, hidden=30), kwargs)


@register_model(family="nlp")
def lstm_autoencoder(**kwargs: Any) -> LstmAutoencoder:
    """Not a classifier: Embedding 30 + LSTM 30 -> code; repeat L times, LSTM 30, Dense 4 per position."""
    return _create(LstmAutoencoder, dict(embed_dim=30, hidden=30), kwargs)


@register_model(family="nlp")
def lstm_ae_mlp(**kwargs: Any) -> LstmAeClassifier:
    """Frozen LSTM-autoencoder encoder (30-dim codes) + Dense 128-64-32-16 (ReLU, Dropout 0.2), head."""
    return _create(LstmAeClassifier, dict(embed_dim=30, hidden=30, freeze_encoder=True), kwargs)


@register_model(family="nlp")
def doc2vec_mlp(**kwargs: Any) -> Doc2VecClassifier:
    """Paragraph vectors (PV-DBOW, 100-dim) of overlapping 3-mer words + Dense 128-64-32-16, head. The weakest
    model of the study."""
    return _create(Doc2VecClassifier, dict(k=3, vector_size=100), kwargs)
