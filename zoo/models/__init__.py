"""Every architecture of genozoo, one module per family, all behind :mod:`zoo.registry`.

The contract every model obeys (see :class:`zoo.models.base.ZooModel`):

* input: one encoded batch, exactly as ``zoo.encoding.encode(sequences, model.encoding)`` returns it
  (the representation, its parameters and the fixed length are part of the model's config);
* output: logits of shape ``(N, 1)`` for a binary task (``num_classes=2``, sigmoid + binary cross-entropy) or
  ``(N, num_classes)`` for more classes (softmax + cross-entropy); ``model.loss`` and ``model.probabilities``
  apply the matching function so callers never branch on it; an ensemble returns its members' logits
  ``(N, members, outputs)`` in training mode, each member then trained on its own loss;
* the final layer is the attribute named by ``model.classifier`` (``head`` unless stated; a pattern such as
  ``members.*.head`` for an ensemble, :meth:`~zoo.models.base.ZooModel.classifier_prefixes`), so fine-tuning can
  replace it; ``model.param_groups()`` carries per-layer weight decay (the study's L2 regularization).

Families: ``paper_cnn`` (the study's Conv2D CNNs and DeepDBP), ``deepram`` (the DeepRAM conv/recurrent
models), ``nlp`` (the study's NLP-style models), ``transformer`` (small BERT-style baselines), ``convformer`` (a
convolutional stem before a small transformer encoder) and ``genonet`` (genozoo's own residual dilated CNN + BiGRU
with a k-mer composition branch, issue #25).
"""
from zoo.models.base import ZooModel

from zoo.models import paper_cnn, deepram, nlp, transformer, convformer, genonet  # noqa: F401,E402  (register families)

__all__ = ["ZooModel"]
