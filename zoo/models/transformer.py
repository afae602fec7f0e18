"""Small BERT-style encoders as modern baselines next to the study's models, loadable with plain ``transformers``.

Not part of the study (Zhang, Cheng & Solis-Lemus 2022 compared CNNs, RNNs and NLP-style models); added because
transformers are what people reach for today. This module owns :class:`BertBaseline`, its DNA tokenizers and the
export to a folder that ``transformers`` loads without genozoo installed.

Two tokenizations, one token per position of the model:

* ``k=1`` (``bert_tiny_nt``): one token per nucleotide ``A C G T N``;
* ``k>1`` (``bert_tiny_kmer3``): non-overlapping k-mers read left to right, falling back to single letters where a
  k-mer would hold ``N`` or the sequence ends (the Nucleotide Transformer's scheme; a regex pre-tokenizer, so the
  ``tokenizers`` library does it alone). Overlapping k-mers (DNABERT) cannot be expressed by a ``tokenizers``
  pipeline and would make users pre-split their sequences, so they are not used.

Both tokenizers upper-case, map ``U`` to ``T`` and the IUPAC ambiguity codes to ``N``, like
:func:`zoo.encoding.clean`, crop the sequence to the model's length at the right end, as its
:class:`~zoo.encoding.Encoding` does (a regex normalizer, so a plain ``transformers`` user gets genozoo's numbers for
any input length), and add ``[CLS] ... [SEP]``; shorter sequences are padded with ``[PAD]`` under an attention mask,
which is what genozoo's padding amounts to.

Contract: like every genozoo model, :class:`BertBaseline` takes tokens ``(N, L)`` over
:data:`zoo.encoding.TOKENS` and returns logits ``(N, 1)`` (binary) or ``(N, num_classes)``; internally it turns
the tokens back into text and runs the same ``tokenizers`` pipeline as the exported tokenizer, so genozoo and
plain ``transformers`` see identical inputs. It is ``BertModel`` + dropout + ``head`` (a Linear), exactly
``BertForSequenceClassification``'s computation; :func:`save_transformers` writes that class's layout
(``config.json``, ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``) and
:func:`load_transformers` reads it back. The export is the standard one: ``single_label_classification`` with one
logit per label. A binary model, one logit ``z`` inside genozoo (the zoo's contract), is exported with two,
``[0, z]`` (a zero row and bias for the first label), whose softmax is ``[1 - sigmoid(z), sigmoid(z)]``:
genozoo's probabilities. Loading takes the difference of the two rows back (exactly ``z``'s weights); folders
written with one logit (``multi_label_classification``) still load.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from zoo.encoding import IUPAC_AMBIGUOUS, Encoding, tokens_to_strings
from zoo.errors import UserError
from zoo.models.base import ZooModel
from zoo.registry import register_model

__all__ = ["BertBaseline", "dna_vocabulary", "build_tokenizer", "hf_tokenizer", "to_transformers",
           "save_transformers", "load_transformers", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: Key of genozoo's own record inside the exported ``config.json`` (transformers keeps unknown config keys).
CONFIG_KEY = "genozoo"


def dna_vocabulary(k: int) -> dict[str, int]:
    """Token -> id: the special tokens, every k-mer over ``ACGT`` (lexicographic), then ``A C G T`` (when
    ``k > 1``) and ``N``."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    words = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    singles = (list("ACGT") if k > 1 else []) + ["N"]
    return {w: i for i, w in enumerate([*SPECIAL_TOKENS, *words, *singles])}


@functools.lru_cache(maxsize=None)
def build_tokenizer(k: int, max_length: int):
    """The ``tokenizers.Tokenizer`` of a model: normalization, cropping to ``max_length - 2`` bases (the model's
    sequence length; its encoding crops at the right end), k-mer split, ``[CLS] ... [SEP]``, padding.

    Cached: it is rebuilt from ``(k, max_length)`` alone, never stored in the model.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = dna_vocabulary(k)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    lower = "acgtnu" + IUPAC_AMBIGUOUS.lower().replace("n", "")
    rules = [normalizers.Strip()]
    rules += [normalizers.Replace(c, c.upper()) for c in lower]
    rules += [normalizers.Replace("U", "T")]
    rules += [normalizers.Replace(c, "N") for c in IUPAC_AMBIGUOUS if c != "N"]
    # Crop to the model's length, as its encoding does (pad_mode "right": keep the first bases). Cropping tokens
    # instead would keep a different number of bases for k-mers, and transformers truncates only when asked.
    rules += [normalizers.Replace(Regex(f"(?<=^.{{{max_length - 2}}}).+"), "")]
    tok.normalizer = normalizers.Sequence(rules)
    pattern = "." if k == 1 else f"[ACGT]{{{k}}}|."
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=vocab["[PAD]"], pad_token="[PAD]")
    return tok


def hf_tokenizer(k: int, max_length: int):
    """The tokenizer as a ``transformers`` ``PreTrainedTokenizerFast`` (what :func:`save_transformers` saves)."""
    from transformers import PreTrainedTokenizerFast

    backend = build_tokenizer(k, max_length)
    from tokenizers import Tokenizer

    fresh = Tokenizer.from_str(backend.to_str())  # a copy: transformers sets its own padding/truncation on it
    fresh.no_padding()
    fresh.no_truncation()
    return PreTrainedTokenizerFast(tokenizer_object=fresh, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=max_length)


#: The longest input of a BERT here: the tokenizer's cropping pattern (a look-behind) allows at most 65,535.
MAX_BERT_LENGTH = 16_384


class BertBaseline(ZooModel):
    """A small BERT encoder over DNA tokens; the ``[CLS]`` pooled output, dropout and ``head`` classify.

    ``k=1`` tokenizes by nucleotide, ``k>1`` by non-overlapping k-mers (see the module docstring). Position
    embeddings cover ``seq_len + 2`` tokens (``[CLS]``, every base as a single letter at worst, ``[SEP]``).
    """

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None, *,
                 k: int = 1, hidden_size: int = 128, num_layers: int = 2, num_heads: int = 2,
                 intermediate_size: int = 512, dropout: float = 0.1):
        super().__init__(num_classes, seq_len, label_names)
        from transformers import BertModel

        if self.seq_len > MAX_BERT_LENGTH:
            raise UserError(f"a genozoo BERT reads at most {MAX_BERT_LENGTH:,} bp (its attention grows with the "
                            f"square of the length), not {self.seq_len:,}; use a convolutional or recurrent model "
                            "for longer sequences")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_heads {num_heads}")
        self.k, self.hidden_size, self.num_layers, self.num_heads = int(k), int(hidden_size), int(num_layers), \
            int(num_heads)
        self.intermediate_size, self.dropout_p = int(intermediate_size), float(dropout)
        self.max_tokens = self.seq_len + 2
        self.bert = BertModel(self.bert_config(), add_pooling_layer=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, self.num_outputs)
        # BERT's own initialization of a classifier (normal, std initializer_range).
        nn.init.normal_(self.head.weight, std=self.bert.config.initializer_range)
        nn.init.zeros_(self.head.bias)

    def model_args(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this model (also stored in the exported ``config.json``)."""
        return dict(num_classes=self.num_classes, seq_len=self.seq_len, label_names=list(self.label_names),
                    k=self.k, hidden_size=self.hidden_size, num_layers=self.num_layers, num_heads=self.num_heads,
                    intermediate_size=self.intermediate_size, dropout=self.dropout_p)

    def bert_config(self):
        """The ``transformers.BertConfig`` of this model as exported: one logit per label (two for a binary model,
        see the module docstring), ``single_label_classification``."""
        from transformers import BertConfig

        id2label, problem = dict(enumerate(self.label_names)), "single_label_classification"
        vocab = dna_vocabulary(self.k)
        return BertConfig(
            vocab_size=len(vocab), hidden_size=self.hidden_size, num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads, intermediate_size=self.intermediate_size,
            hidden_dropout_prob=self.dropout_p, attention_probs_dropout_prob=self.dropout_p,
            max_position_embeddings=self.max_tokens, type_vocab_size=1, pad_token_id=vocab["[PAD]"],
            num_labels=self.num_classes, id2label=id2label, label2id={v: i for i, v in id2label.items()},
            problem_type=problem)

    def hf_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """genozoo tokens ``(N, L)`` -> BERT ``input_ids`` and ``attention_mask`` (PAD dropped, ``[CLS]``/``[SEP]``
        added), through the same tokenizer that :func:`save_transformers` exports."""
        texts = tokens_to_strings(x.detach().cpu().numpy())
        encoded = build_tokenizer(self.k, self.max_tokens).encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.long)
        return ids.to(x.device), mask.to(x.device)

    @property
    def encoding(self) -> Encoding:
        return Encoding(kind="tokens", length=self.seq_len)  # pad_mode "right": the tokenizer crops the same way

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, mask = self.hf_inputs(x)
        pooled = self.bert(input_ids=ids, attention_mask=mask).pooler_output
        return self.head(self.dropout(pooled))


# ------------------------------------------------------------------------------------ transformers export
def to_transformers(model: BertBaseline):
    """A ``BertForSequenceClassification`` with ``model``'s weights and its tokenizer (both detached copies)."""
    from transformers import BertForSequenceClassification

    config = model.bert_config()
    setattr(config, CONFIG_KEY, {"arch": model.arch, "model_args": model.model_args(),
                                 "encoding": model.encoding.to_dict()})
    hf = BertForSequenceClassification(config)
    state = {f"bert.{k}": v for k, v in model.bert.state_dict().items()}
    weight, bias = model.head.weight.detach(), model.head.bias.detach()
    if model.num_outputs == 1:  # logits [0, z]: softmax gives [1 - sigmoid(z), sigmoid(z)]
        weight = torch.cat([torch.zeros_like(weight), weight])
        bias = torch.cat([torch.zeros_like(bias), bias])
    state.update({"classifier.weight": weight.clone(), "classifier.bias": bias.clone()})
    hf.load_state_dict(state, strict=True)
    hf.train(model.training)
    return hf, hf_tokenizer(model.k, model.max_tokens)


def save_transformers(model: BertBaseline, path: str | os.PathLike) -> Path:
    """Write ``model`` as a ``transformers`` folder (config, safetensors weights, tokenizer) at ``path``.

    ``AutoModelForSequenceClassification.from_pretrained(path)`` and ``AutoTokenizer.from_pretrained(path)``
    load it without genozoo. The folder is written next to ``path`` and renamed into place, so a failure leaves
    no half-written folder; an existing folder at ``path`` is replaced.
    """
    if not isinstance(model, BertBaseline):
        raise TypeError(f"save_transformers needs a BertBaseline, not {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hf, tokenizer = to_transformers(model)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        hf.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        # The generic class name loads with transformers 4 and 5 alike (5 writes its new backend's name).
        cfg_file = tmp / "tokenizer_config.json"
        tok_cfg = json.loads(cfg_file.read_text())
        tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        tok_cfg.pop("backend", None)  # transformers 5 only; "tokenizers" is its default anyway
        cfg_file.write_text(json.dumps(tok_cfg, indent=2) + "\n")
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_transformers(path: str | os.PathLike) -> BertBaseline:
    """Rebuild a :class:`BertBaseline` from a folder written by :func:`save_transformers` (no pickle: the
    genozoo record in ``config.json`` and the safetensors weights)."""
    from safetensors.torch import load_file

    path = Path(path)
    cfg_file, weights = path / "config.json", path / "model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise UserError(f"{path} is not a transformers model folder (config.json and model.safetensors are "
                        f"needed); write one with save_transformers")
    record = json.loads(cfg_file.read_text()).get(CONFIG_KEY)
    if not isinstance(record, dict) or "model_args" not in record:
        raise UserError(f"{cfg_file} has no '{CONFIG_KEY}' record, so it was not written by genozoo's "
                        f"save_transformers; load it with transformers' from_pretrained instead")
    model = BertBaseline(**record["model_args"])
    model.arch = record.get("arch", "")
    state = load_file(weights)
    bert = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
    head = {k[len("classifier."):]: v for k, v in state.items() if k.startswith("classifier.")}
    if model.num_outputs == 1 and head.get("weight") is not None and head["weight"].shape[0] == 2:
        # Two logits [a, b] of a binary model: softmax(.)[1] = sigmoid(b - a), genozoo's single logit.
        head = {name: t[1:] - t[:1] for name, t in head.items()}
    model.bert.load_state_dict(bert, strict=True)
    model.head.load_state_dict(head, strict=True)
    return model.eval()


# ------------------------------------------------------------------------------------------------ registry
_TINY = dict(hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512, dropout=0.1)


def _create(defaults: dict[str, Any], kwargs: dict[str, Any]) -> BertBaseline:
    """Build a :class:`BertBaseline` from the variant's defaults overridden by the caller's arguments."""
    return BertBaseline(**{**defaults, **kwargs})


@register_model(family="transformer")
def bert_tiny_nt(**kwargs: Any) -> BertBaseline:
    """BERT-Tiny sized encoder (2 layers, hidden 128, 2 heads), one token per nucleotide."""
    return _create({**_TINY, "k": 1}, kwargs)


@register_model(family="transformer")
def bert_tiny_kmer3(**kwargs: Any) -> BertBaseline:
    """BERT-Tiny sized encoder (2 layers, hidden 128, 2 heads), non-overlapping 3-mer tokens."""
    return _create({**_TINY, "k": 3}, kwargs)
