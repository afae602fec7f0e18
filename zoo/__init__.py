"""genozoo: pretrained neural-network baselines for genomic DNA sequence classification.

``import zoo`` gives the registry (``list_models``, ``create_model``) and the encodings; the data loaders live in
:mod:`zoo.data`, training in :mod:`zoo.engine`, the hub in :mod:`zoo.hub`, and the command line in :mod:`zoo.cli`.
"""
import os

# Back torch's large CPU buffers (>= 2 MB) with transparent huge pages, before torch allocates any: the k-mer image
# CNNs write activations of 100+ MB per batch, and faulting them in 4 kB pages cost a third of a training step
# (cnn_zeng_2_conv2d on CTCF: 68 -> 98 sequences/s on one core). Set THP_MEM_ALLOC_ENABLE=0 to opt out.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from zoo.encoding import Encoding, encode  # noqa: E402
from zoo.errors import UserError  # noqa: E402
from zoo.registry import (PretrainedCfg, create_model, list_families, list_models, model_family,  # noqa: E402
                          pretrained_cfg, register_model)
from zoo.version import __version__  # noqa: E402

# The layers, bottom up. Importing them here registers every architecture (zoo.models) and attaches what the upper
# layers offer to the lower ones without the lower ones importing them: weight loading for create_model
# (zoo.hub), config.json for ZooModel.save_pretrained (zoo.hub) and ZooModel.predict (zoo.predict). Python runs
# this file before any zoo submodule, so they are in place however zoo is entered.
import zoo.models  # noqa: E402,F401
import zoo.hub  # noqa: E402,F401
import zoo.predict  # noqa: E402,F401

__all__ = [
    "Encoding", "encode", "UserError", "PretrainedCfg", "create_model", "list_families", "list_models",
    "model_family", "pretrained_cfg", "register_model", "__version__",
]
