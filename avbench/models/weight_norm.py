"""Weight normalisation helpers shared by the VITS flow and the HiFi-GAN generator.

Both reference implementations wrap their convolutions in weight norm during
training and fold it away for inference. We use the parametrization API (the
old hook-based ``torch.nn.utils.weight_norm`` is deprecated) so state-dict keys
read ``<conv>.parametrizations.weight.original0/original1``.
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def weight_norm(module: ModuleT) -> ModuleT:
    """Reparametrise ``module.weight`` as ``g * v / ||v||`` (norm over all dims but 0)."""
    return _weight_norm(module, name="weight", dim=0)


def remove_weight_norm(module: nn.Module) -> int:
    """Fold every weight-norm parametrization under ``module`` into a plain weight.

    Exported graphs then hold ordinary convolutions instead of recomputing
    ``g * v / ||v||`` on every call. Returns how many parametrizations were folded.
    """
    # Collect first: removing a parametrization mutates the module tree being walked.
    parametrized = [m for m in module.modules() if parametrize.is_parametrized(m, "weight")]
    for sub in parametrized:
        parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
    return len(parametrized)
