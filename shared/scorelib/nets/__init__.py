"""Score networks: :mod:`scorelib.nets.mlp` (time-conditioned MLP), :mod:`scorelib.nets.unet` (small
U-Net for 8×8/28×28 images), :mod:`scorelib.nets.conditioning` (σ-conditioning wrapper) and
:mod:`scorelib.nets.bidimensional_attention` (the NDP noise model) and :mod:`scorelib.nets.point_attention`
(plain attention over points: the NDP image-regression model)."""

from scorelib.nets.bidimensional_attention import BiDimensionalAttention
from scorelib.nets.conditioning import SigmaConditioned
from scorelib.nets.mlp import MLP, SinusoidalEmbedding
from scorelib.nets.point_attention import PointAttention
from scorelib.nets.unet import UNet

__all__ = ["BiDimensionalAttention", "MLP", "PointAttention", "SigmaConditioned", "SinusoidalEmbedding", "UNet"]
