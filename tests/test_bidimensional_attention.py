"""The NDP noise model's symmetries as properties (float64, random non-zero weights, atol 1e-5).

Permuting the points permutes the output; permuting the input dimensions leaves it unchanged; padded
points (mask False) do not change the outputs at real points. The zero-initialised head is replaced by
random weights first, else every output is 0 and every property holds vacuously.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scorelib.errors import ConfigError
from scorelib.nets import BiDimensionalAttention

DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(seed: int = 0, hidden: int = 16, layers: int = 2) -> BiDimensionalAttention:
    torch.manual_seed(seed)  # nn.Linear's initialisation draws from the global generator
    model = BiDimensionalAttention(hidden=hidden, layers=layers, heads=4).to(DT)
    nn.init.normal_(model.head[-1].weight, std=0.5)
    nn.init.normal_(model.head[-1].bias, std=0.5)
    return model.eval()


def _inputs(b=3, n=9, d=3, seed=1):
    g = _gen(seed)
    x = torch.rand(b, n, d, generator=g, dtype=DT) * 4 - 2
    y = torch.randn(b, n, generator=g, dtype=DT)
    t = torch.randint(1, 500, (b,), generator=g)
    return x, y, t


def test_zero_initialised_head_predicts_zero_and_shapes():
    x, y, t = _inputs()
    model = BiDimensionalAttention(hidden=16, layers=2, heads=4).to(DT)
    out = model(x, y, t)
    assert out.shape == (3, 9)
    assert bool((out.detach() == 0).all())
    out = _model()(x, y, t).detach()
    assert float(out.abs().min()) > 0  # the random head makes every property below non-vacuous
    with pytest.raises(ConfigError, match="batch, points"):
        model(x, y.unsqueeze(-1), t)


def test_output_depends_on_y_t_and_other_points():
    model = _model()
    x, y, t = _inputs()
    base = model(x, y, t)
    assert not torch.allclose(model(x, y, t + 100), base)
    y2 = y.clone()
    y2[:, 0] += 1.0
    changed = model(x, y2, t)
    assert not torch.allclose(changed[:, 1:], base[:, 1:])  # attention across points carries information


def test_permuting_points_permutes_the_output():
    model = _model()
    x, y, t = _inputs(d=3)
    perm = torch.randperm(9, generator=_gen(2))
    out = model(x, y, t)
    out_perm = model(x[:, perm], y[:, perm], t)
    torch.testing.assert_close(out_perm, out[:, perm], atol=1e-5, rtol=0)
    assert not torch.allclose(out_perm, out, atol=1e-5)  # the output is not trivially symmetric


def test_permuting_input_dimensions_leaves_the_output_unchanged():
    model = _model()
    x, y, t = _inputs(d=3)
    out = model(x, y, t)
    for perm in ([1, 0, 2], [2, 0, 1], [0, 2, 1]):
        torch.testing.assert_close(model(x[:, :, perm], y, t), out, atol=1e-5, rtol=0)
    # but the input values matter: changing one coordinate changes the output
    x2 = x.clone()
    x2[:, :, 0] = x2[:, :, 1]
    assert not torch.allclose(model(x2, y, t), out, atol=1e-5)


def test_padded_points_do_not_change_real_outputs():
    model = _model()
    x, y, t = _inputs(n=7, d=2)
    out = model(x, y, t)
    g = _gen(3)
    pad_x = torch.randn(3, 5, 2, generator=g, dtype=DT) * 10
    pad_y = torch.randn(3, 5, generator=g, dtype=DT) * 10
    xp, yp = torch.cat([x, pad_x], 1), torch.cat([y, pad_y], 1)
    mask = torch.cat([torch.ones(3, 7, dtype=torch.bool), torch.zeros(3, 5, dtype=torch.bool)], 1)
    out_padded = model(xp, yp, t, mask)
    assert out_padded.shape == (3, 12)
    torch.testing.assert_close(out_padded[:, :7], out, atol=1e-10, rtol=0)
    # without the mask the junk points are attended to and do change the outputs
    assert not torch.allclose(model(xp, yp, t)[:, :7], out, atol=1e-5)


def test_one_dimension_shortcut_matches_general_attention():
    """With D = 1 the attention across dimensions is the identity on v; it must equal the general path."""
    model = _model()
    x, y, t = _inputs(d=1)
    block = model.blocks[0].att_dims
    h = torch.randn(3, 9, 1, 16, generator=_gen(4), dtype=DT)
    from scorelib.nets.bidimensional_attention import _attention
    q, k, v = block.qkv(h).chunk(3, dim=-1)
    split = lambda z: z.reshape(27, 1, 4, 8).transpose(1, 2)  # noqa: E731
    general = block.proj(_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(3, 9, 1, 32))
    torch.testing.assert_close(block(h, "dims", None), general)
    assert model(x, y, t).shape == (3, 9)


def test_training_step_reduces_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = BiDimensionalAttention(hidden=16, layers=2, heads=4)
    x, y, t = _inputs(b=8, n=12, d=1)
    x, y = x.float(), y.float()
    target = 0.5 * y  # learnable from the inputs (random ε would leave an irreducible loss)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (model(x, y, t) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_over_one_input_dimension_is_v_and_its_shortcut_is_exact(dtype):
    """With D = 1 the attention across dimensions has one key, softmax 1: the block skips q and k and projects v
    alone. That shortcut gives the full computation to round-off (bitwise on the AVX2 machine that measured it; on an
    AVX-512 CPU the v-only GEMM is blocked differently and float64 differs in the last bit), and the q, k weights get
    the gradient the full computation gives them: exactly 0."""
    from scorelib.nets.bidimensional_attention import _attention
    torch.manual_seed(0)
    att = _model().blocks[0].att_dims.to(dtype)
    h = torch.randn(5, 7, 1, 16, dtype=dtype, requires_grad=True)
    fast = att(h, "dims", None)
    q, k, v = att.qkv(h).chunk(3, dim=-1)
    split = lambda z: z.reshape(35, 1, att.heads, -1).transpose(1, 2)  # noqa: E731
    full = att.proj(_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(5, 7, 1, -1))
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(fast, full, rtol=8 * eps, atol=8 * eps)
    g_fast, = torch.autograd.grad(fast.sum(), att.qkv.weight)
    g_full, = torch.autograd.grad(full.sum(), att.qkv.weight)
    out = att.qkv.out_features // 3
    torch.testing.assert_close(g_fast, g_full, rtol=8 * eps, atol=8 * eps * float(g_full.abs().max()))
    assert not g_full[:2 * out].any() and not g_fast[:2 * out].any()
