"""The base class of every genozoo model: the input/output contract, losses and hub (de)serialization.

It knows nothing of the layers above it (hub, cards, prediction): those attach ``predict`` and the full
``config.json`` through :attr:`ZooModel.predict_hook` and :attr:`ZooModel.config_hook` when they are imported.

Subclasses build their layers in ``__init__`` from flat, JSON-serializable arguments (so ``config.json``
round-trips through ``save_pretrained`` / ``from_pretrained``, :class:`zoo.models.hubmixin.HubMixin`: the files
and behaviour of ``huggingface_hub``'s ``PyTorchModelHubMixin`` without importing it for local folders), expose the
:class:`~zoo.encoding.Encoding` they expect as ``self.encoding``, and name their last layer ``self.head``. Every
tensor a model needs lives in its parameters and persistent buffers (its ``state_dict``): published weights are
loaded into a model built on the ``meta`` device, without initializing what the file then replaces.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.encoding import Encoding, encode_codes
from zoo.errors import UserError, write_error
from zoo.models.hubmixin import HubMixin
from zoo.registry import UnknownModelError, load_layers, model_class

PAPER_URL = "https://doi.org/10.1186/s12859-022-04660-8"


class ZooModel(
    nn.Module,
    HubMixin,
    library_name="genozoo",
    tags=["genomics", "dna", "sequence-classification"],
    repo_url="https://github.com/genozoo/genozoo",
    paper_url=PAPER_URL,
    license="mit",
):
    """Encoded batch in, logits ``(N, 1)`` (binary) or ``(N, num_classes)`` out."""

    arch: str = ""
    classifier: str = "head"
    #: False for models that do not classify by themselves (the LSTM autoencoder): their forward returns
    #: something else than class logits, so classifier-only checks and training must skip them.
    is_classifier: bool = True
    #: True where oneDNN runs the model faster with channels-last (NHWC) 2-D activations: the k-mer image CNNs,
    #: 1.3-2x on one core. Training and prediction then use that layout on the CPU
    #: (:func:`preferred_memory_format`); weights are saved contiguous.
    channels_last: bool = False
    #: Attached by the layers above (``import zoo`` loads them): :func:`zoo.predict.predict` and
    #: :func:`zoo.hub.model_config`. The models never import those layers.
    predict_hook: ClassVar[Callable[..., Any] | None] = None
    config_hook: ClassVar[Callable[..., dict] | None] = None

    def __init__(self, num_classes: int = 2, seq_len: int = 101, label_names: Sequence[str] | None = None):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, not {num_classes}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be positive, not {seq_len}")
        self.num_classes = int(num_classes)
        self.seq_len = int(seq_len)
        names = list(label_names) if label_names else [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"{len(names)} label names given for {num_classes} classes")
        self.label_names = names

    # --------------------------------------------------------------------------------------- contract
    @property
    def num_outputs(self) -> int:
        """One logit for a binary task, one per class otherwise."""
        return 1 if self.num_classes == 2 else self.num_classes

    @property
    def encoding(self) -> Encoding:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
             reduction: str = "mean") -> torch.Tensor:
        """Binary cross-entropy on one logit, or cross-entropy over classes; ``weight`` = class weights."""
        if self.num_outputs == 1:
            y = target.float().view(-1)
            pos_weight = None if weight is None else (weight[1] / weight[0]).view(1)
            return F.binary_cross_entropy_with_logits(logits.view(-1), y, pos_weight=pos_weight,
                                                      reduction=reduction)
        return F.cross_entropy(logits, target.long(), weight=weight, reduction=reduction)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, num_classes)`` class probabilities from logits."""
        if self.num_outputs == 1:
            p = torch.sigmoid(logits.view(-1).float())
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(logits.float(), dim=1)

    def param_groups(self, weight_decay: float = 0.0) -> list[dict]:
        """Optimizer parameter groups; layers with their own L2 (``self.l2_layers``) get their own group."""
        special = {}
        for module, wd in getattr(self, "l2_layers", lambda: [])():
            special[id(module.weight)] = wd
        groups: dict[float, list] = {}
        for p in self.parameters():
            if p.requires_grad:
                groups.setdefault(special.get(id(p), weight_decay), []).append(p)
        return [{"params": ps, "weight_decay": wd} for wd, ps in groups.items()]

    def get_classifier(self) -> nn.Module:
        """The final layer; for a pattern (an ensemble's ``members.*.head``) a ``ModuleList`` of every match."""
        if "*" not in self.classifier:
            return self.get_submodule(self.classifier)
        return nn.ModuleList(self.get_submodule(p[:-1]) for p in self.classifier_prefixes())

    def classifier_prefixes(self) -> tuple[str, ...]:
        """The state-dict key prefixes of the classifier, what fine-tuning replaces for a new label set:
        ``classifier + "."``, or every module the pattern names (``members.*.head`` for an ensemble)."""
        if "*" not in self.classifier:
            return (self.classifier + ".",)
        return tuple(name + "." for name, _ in self.named_modules() if fnmatch.fnmatchcase(name, self.classifier))

    def reset_classifier(self, num_classes: int, label_names: Sequence[str] | None = None) -> None:
        """Replace the final layer with a freshly initialized one for ``num_classes`` classes."""
        old = self.get_classifier()
        if not isinstance(old, nn.Linear):
            raise TypeError(f"{type(self).__name__}.{self.classifier} is not a Linear layer")
        self.num_classes = int(num_classes)
        self.label_names = list(label_names) if label_names else [str(i) for i in range(num_classes)]
        setattr(self, self.classifier, nn.Linear(old.in_features, self.num_outputs))
        if hasattr(self, "_hub_mixin_config") and isinstance(self._hub_mixin_config, dict):
            self._hub_mixin_config.update(num_classes=self.num_classes, label_names=self.label_names)

    def save_pretrained(self, save_directory, *, config: dict | None = None, **kwargs):
        """:meth:`HubMixin.save_pretrained` (and so ``push_to_hub``), with genozoo's full ``config.json`` (architecture,
        input contract, training data; :func:`zoo.hub.model_config`, attached as :attr:`config_hook` by the hub
        layer) when no config is given, so the folder loads with :func:`zoo.hub.load_model`.
        :func:`zoo.hub.save_model` also writes the model card."""
        if config is None and self.arch and ZooModel.config_hook is None:
            load_layers()  # the hub attaches config_hook when loaded; a model built directly may come first
        if config is None and self.arch and ZooModel.config_hook is not None:
            config = ZooModel.config_hook(self)
        try:
            return super().save_pretrained(save_directory, config=config, **kwargs)
        except OSError as e:  # one sentence naming the folder (a file on the way, /proc, a full disk), as save_model
            raise write_error(e, save_directory, Path(save_directory).parent) from None

    @classmethod
    def _pretrained_class(cls, config: dict | None, where: str) -> type:
        """The class ``cls.from_pretrained`` builds for a folder's config.json: the one its architecture (``arch``)
        is built as, when that is ``cls`` or a subclass (so ``ZooModel.from_pretrained(folder)`` builds any
        genozoo model). Another architecture is refused: built as ``cls`` with the folder's sizes, none of its
        weights would fit and the model would look loaded but be random."""
        arch = config.get("arch") if isinstance(config, dict) else None
        if not isinstance(arch, str) or not arch:
            if cls is ZooModel:
                raise UserError(f"{where} has no config.json naming its architecture ('arch'), so "
                                "ZooModel.from_pretrained cannot tell what to build; use the class it was saved "
                                "from (TheClass.from_pretrained) or zoo.hub.load_model for a genozoo model folder")
            return cls
        try:
            built = model_class(arch)
        except UnknownModelError as err:
            raise UserError(f"{where} holds architecture {arch!r}, which this genozoo does not have; upgrade "
                            f"genozoo or check its config.json") from err
        if built is not None and not issubclass(built, cls):
            also = f" or zoo.create_model({arch!r}, checkpoint_path={where!r})" if os.path.isdir(where) else ""
            raise UserError(f"{where} holds a {arch!r} model ({built.__name__}), which {cls.__name__}.from_pretrained "
                            f"does not build; load it with zoo.hub.load_model({where!r}){also}")
        if isinstance(config.get("genozoo"), dict):  # a family's own layout (transformers), not the mixin's
            raise UserError(f"{where} is saved in the layout of the {config.get('family') or arch!r} family, which "
                            f"from_pretrained does not read; load it with zoo.hub.load_model({where!r})")
        return built or cls

    def _loaded_from_config(self, config: dict | None) -> None:
        """A model built from a genozoo config.json knows its architecture, so it saves and fine-tunes as one."""
        arch = config.get("arch") if isinstance(config, dict) else None
        if isinstance(arch, str) and arch and not self.arch:
            self.arch = arch

    def num_parameters(self, trainable: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable)

    def predict(self, sequences, **kwargs):
        """Class probabilities with label names for raw DNA sequences: a :class:`zoo.predict.Predictions` table.
        Options (batch size, reverse-complement averaging, device) as :func:`zoo.predict.predict`, which the
        prediction layer attaches as :attr:`predict_hook` (the models do not import the layers above them)."""
        if ZooModel.predict_hook is None:
            load_layers()  # the prediction layer attaches predict_hook when loaded
        if ZooModel.predict_hook is None:
            raise RuntimeError("zoo.predict is not loaded; import zoo before calling model.predict")
        return ZooModel.predict_hook(self, sequences, **kwargs)

    # ----------------------------------------------------------------------------------- fast inference
    def fast_input(self, codes: np.ndarray) -> torch.Tensor:
        """The input of :meth:`inference_forward` for a cleaned ``(N, L)`` code matrix (:func:`zoo.encoding.to_codes`):
        the model's encoding by default; models with a faster exact rewrite take something smaller (k-mer word
        indices instead of a 64-192x larger one-hot)."""
        return encode_codes(codes, self.encoding)

    def inference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits in eval mode, for prediction and evaluation: the plain forward by default. Models override it
        with exact rewrites (gathered kernel columns instead of a convolution over a one-hot input, pooling
        before ReLU, in-place activations), each tested to match :meth:`forward` within 1e-5
        (tests/test_inference.py). Training keeps :meth:`forward`."""
        return self(x)

    @torch.no_grad()
    def predict_encoded(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities for an already encoded batch (eval mode, no grad)."""
        was_training = self.training
        self.eval()
        try:
            return self.probabilities(self(x))
        finally:
            self.train(was_training)


def preferred_memory_format(model: nn.Module, device: torch.device) -> torch.memory_format:
    """The layout to run ``model`` in on ``device``: channels-last on the CPU for models that declare it faster
    (:attr:`ZooModel.channels_last`), contiguous otherwise."""
    if device.type == "cpu" and getattr(model, "channels_last", False):
        return torch.channels_last
    return torch.contiguous_format
