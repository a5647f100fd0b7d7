"""Neural models of the voice pipelines: architecture-faithful, seeded by the caller.

Every model accepts any sequence length, runs in fp32/fp16/bf16 and exports to
ONNX with a dynamic time axis (fold weight norms with ``remove_weight_norm``
first where a model has them).
"""

from avbench.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from avbench.models.content import ContentEncoder, PitchEncoder
from avbench.models.flow import WN, Flip, ResidualCouplingFlow, ResidualCouplingLayer
from avbench.models.projection import MelProjection
from avbench.models.separation import SpectrogramUNet
from avbench.models.vocoder import HiFiGANConfig, HiFiGANGenerator, hifigan_config
from avbench.models.weight_norm import remove_weight_norm

__all__ = [
    "WN",
    "CheckpointError",
    "ContentEncoder",
    "Flip",
    "HiFiGANConfig",
    "HiFiGANGenerator",
    "MelProjection",
    "PitchEncoder",
    "ResidualCouplingFlow",
    "ResidualCouplingLayer",
    "SpectrogramUNet",
    "hifigan_config",
    "load_checkpoint",
    "remove_weight_norm",
    "save_checkpoint",
]
