"""Score networks: :mod:`scorelib.nets.mlp` (time-conditioned MLP)."""

from scorelib.nets.mlp import MLP, SinusoidalEmbedding

__all__ = ["MLP", "SinusoidalEmbedding"]
