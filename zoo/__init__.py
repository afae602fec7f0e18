"""genozoo: pretrained neural-network baselines for genomic DNA sequence classification.

``import zoo`` gives the registry (``list_models``, ``create_model``) and the encodings; the data loaders live in
:mod:`zoo.data`, training in :mod:`zoo.engine`, the hub in :mod:`zoo.hub`, and the command line in :mod:`zoo.cli`.
"""
from zoo.runtime import early_environment

# Before torch is loaded (libgomp and the allocator read these once): idle OpenMP threads sleep instead of spinning,
# large buffers get huge pages. See zoo.runtime; a variable set by the user wins.
early_environment()

from zoo.encoding import Encoding, encode  # noqa: E402
from zoo.errors import UserError  # noqa: E402
from zoo.registry import (PretrainedCfg, create_model, list_families, list_models, model_family,  # noqa: E402
                          pretrained_cfg, register_model)
from zoo.version import __version__  # noqa: E402

from zoo.registry import set_layer_loader  # noqa: E402


def _load_layers() -> None:
    """The layers, bottom up: importing them registers every architecture (zoo.models) and attaches what the upper
    layers offer to the lower ones without the lower ones importing them: weight loading for create_model and
    config.json for ZooModel.save_pretrained (zoo.hub), ZooModel.predict (zoo.predict)."""
    import zoo.models  # noqa: F401
    import zoo.hub  # noqa: F401
    import zoo.predict  # noqa: F401


# The registry loads them on first use (reading the records alone never loads torch). Python runs this file before
# any zoo submodule, so the loader is in place however zoo is entered.
set_layer_loader(_load_layers)

__all__ = [
    "Encoding", "encode", "UserError", "PretrainedCfg", "create_model", "list_families", "list_models",
    "model_family", "pretrained_cfg", "register_model", "__version__",
]
