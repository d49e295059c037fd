"""Score networks: :mod:`scorelib.nets.mlp` (time-conditioned MLP), :mod:`scorelib.nets.unet` (small
U-Net for 8×8/28×28 images) and :mod:`scorelib.nets.conditioning` (σ-conditioning wrapper)."""

from scorelib.nets.conditioning import SigmaConditioned
from scorelib.nets.mlp import MLP, SinusoidalEmbedding
from scorelib.nets.unet import UNet

__all__ = ["MLP", "SigmaConditioned", "SinusoidalEmbedding", "UNet"]
