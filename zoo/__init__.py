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

# The layers, bottom up. The first use of a model (any registry call that needs the architectures) imports every
# family (zoo.models) and then this package's loader, which attaches what the upper layers offer to the lower ones
# without the lower ones importing them: weight loading for create_model (zoo.hub), config.json for
# ZooModel.save_pretrained (zoo.hub) and ZooModel.predict (zoo.predict). Deferred, not done here: `import zoo` and
# `genozoo list --pretrained` (which reads records only) then never load torch (seconds cold).


def _attach_layers() -> None:
    import zoo.models  # noqa: F401  (registers every family)
    import zoo.hub  # noqa: F401
    import zoo.predict  # noqa: F401


from zoo import registry as _registry  # noqa: E402

_registry.add_layer_loader(_attach_layers)

__all__ = [
    "Encoding", "encode", "UserError", "PretrainedCfg", "create_model", "list_families", "list_models",
    "model_family", "pretrained_cfg", "register_model", "__version__",
]
