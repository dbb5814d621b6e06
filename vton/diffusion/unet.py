"""`TryOnUNet`: the noise predictor of the try-on diffusion (after DCI-VTON).

Input, 9 channels at latent size ``(h, w) = (H/8, W/8)``::

    [ x_t (4) | latent of the composite: agnostic + warped cloth (4) | agnostic mask (1) ]

Output: the predicted noise epsilon, ``(B, 4, h, w)``.

Layout, top-down (lucidrains' readable UNet, diffusers' ModelMixin/ConfigMixin so
``from_pretrained(folder)`` works):

- residual blocks with *adaptive group norm*: the timestep embedding gives a
  per-channel scale and shift applied after the second GroupNorm, then
  squeeze-and-excitation re-weights the channels;
- self-attention at the levels named by ``attention_levels`` (the coarsest by
  default) and in the middle;
- optional cross-attention from the image to *cloth tokens*: the in-shop cloth's
  VAE latent cut into ``cloth_patch x cloth_patch`` patches (``cross_attention=True``);
- the skip stack is explicit: ``h.append(x)`` going down, ``torch.cat((x, h.pop()), 1)``
  going up.

Any latent size divisible by ``2 ** (len(block_channels) - 1)`` works.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from einops import rearrange

# ----------------------------------------------------------------------------- helpers


def exists(x) -> bool:
    return x is not None


def groups_for(channels: int, preferred: int = 32) -> int:
    """The largest group count <= ``preferred`` that divides ``channels``."""
    g = min(preferred, channels)
    while channels % g:
        g -= 1
    return g


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters: a residual branch then starts as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps ``(B,)`` -> ``(B, dim)`` (cos half, sin half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat((torch.cos(args), torch.sin(args)), dim=-1)
    return F.pad(emb, (0, dim % 2))


def position_embedding_2d(h: int, w: int, dim: int, device=None) -> torch.Tensor:
    """Fixed 2-D sinusoidal position embedding ``(h * w, dim)``: half for rows, half for columns."""
    rows = timestep_embedding(torch.arange(h, device=device), dim // 2, max_period=100.0)
    cols = timestep_embedding(torch.arange(w, device=device), dim - dim // 2, max_period=100.0)
    return torch.cat((rows[:, None].expand(h, w, -1), cols[None].expand(h, w, -1)), dim=-1).reshape(h * w, dim)


# ----------------------------------------------------------------------------- blocks


class SqueezeExcite(nn.Module):
    """Channel re-weighting: global average pool -> bottleneck MLP -> sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(F.silu(self.fc1(s))))
        return x * rearrange(s, "b c -> b c 1 1")


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, then adaptive GroupNorm (``norm(x) * (1 + scale) + shift`` from the
    time embedding)-SiLU-conv, squeeze-excitation, plus a (1x1 when channels change) skip."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups_for(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, 2 * out_ch)
        self.norm2 = nn.GroupNorm(groups_for(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_module(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.se = SqueezeExcite(out_ch)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = rearrange(self.time_proj(F.silu(temb)), "b (two c) -> two b c 1 1", two=2)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + self.se(h)


class Attention(nn.Module):
    """Multi-head attention of the feature map's pixels to themselves (``context=None``) or to
    ``context`` tokens ``(B, N, context_dim)``; pre-GroupNorm, residual, zero-initialised output."""

    def __init__(self, channels: int, heads: int, context_dim: int | None = None):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels {channels} must be divisible by heads {heads}")
        self.heads = heads
        self.norm = nn.GroupNorm(groups_for(channels), channels)
        self.to_q = nn.Linear(channels, channels)
        self.to_kv = nn.Linear(context_dim or channels, 2 * channels)
        self.context_norm = nn.LayerNorm(context_dim) if exists(context_dim) else nn.Identity()
        self.to_out = zero_module(nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        _, _, h, w = x.shape
        tokens = rearrange(self.norm(x), "b c h w -> b (h w) c")
        source = tokens if context is None else self.context_norm(context)
        q = rearrange(self.to_q(tokens), "b n (heads d) -> b heads n d", heads=self.heads)
        k, v = rearrange(self.to_kv(source), "b n (two heads d) -> two b heads n d", two=2, heads=self.heads)
        out = rearrange(F.scaled_dot_product_attention(q, k, v), "b heads n d -> b n (heads d)")
        return x + rearrange(self.to_out(out), "b (h w) c -> b c h w", h=h, w=w)


class Level(nn.Module):
    """One resolution level's residual blocks, each followed by optional self- and cross-attention."""

    def __init__(self, in_chs: list[int], out_ch: int, time_dim: int, attn: bool, heads: int,
                 context_dim: int | None, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c, out_ch, time_dim, dropout) for c in in_chs)
        self.self_attn = nn.ModuleList(Attention(out_ch, heads) if attn else nn.Identity() for _ in in_chs)
        use_cross = attn and exists(context_dim)
        self.cross_attn = nn.ModuleList(Attention(out_ch, heads, context_dim) for _ in in_chs) if use_cross else None


class Downsample(nn.Sequential):
    def __init__(self, ch: int):
        super().__init__(nn.Conv2d(ch, ch, 3, stride=2, padding=1))


class Upsample(nn.Sequential):
    def __init__(self, ch: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1))


class ClothTokenizer(nn.Module):
    """Cloth latent ``(B, 4, h, w)`` -> tokens ``(B, (h/p)(w/p), dim)``: patchify, linear, 2-D positions."""

    def __init__(self, latent_channels: int, patch: int, dim: int):
        super().__init__()
        self.patch, self.dim = patch, dim
        self.proj = nn.Conv2d(latent_channels, dim, kernel_size=patch, stride=patch)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, cloth_latents: torch.Tensor) -> torch.Tensor:
        x = self.proj(cloth_latents)
        h, w = x.shape[-2:]
        tokens = rearrange(x, "b c h w -> b (h w) c") + position_embedding_2d(h, w, self.dim, x.device).to(x.dtype)
        return tokens + self.mlp(tokens)


# ----------------------------------------------------------------------------- the model


class TryOnUNet(ModelMixin, ConfigMixin):
    """Predicts the noise of ``x_t`` given the composite latent and the agnostic mask.

    Args (config):
        in_channels: 9 = noisy latent (4) + composite latent (4) + mask (1).
        out_channels: 4, the noise.
        block_channels: channels per resolution level, finest first; the latent size
            must be divisible by ``2 ** (len(block_channels) - 1)``.
        layers_per_block: residual blocks per level going down (one more going up).
        attention_levels: per level, whether it has self-attention (and cross-attention).
        mid_attention: self-attention (and cross-attention) in the middle block.
        heads: attention heads.
        cross_attention: attend to cloth tokens; ``forward`` then needs ``cloth_latents``.
        cloth_patch: cloth latent patch size for the tokens.
        dropout: in the residual blocks.

    The default (3.0 M parameters, 0.59 GFLOP per step on 32x24 latents, i.e. 256x192
    images) is sized for training and sampling on a CPU; widen ``block_channels`` on a GPU.

    Example:
        >>> unet = TryOnUNet(block_channels=(32, 64), attention_levels=(False, True))
        >>> eps = unet(torch.randn(2, 9, 32, 24), torch.tensor([10, 900]))
        >>> eps.shape
        torch.Size([2, 4, 32, 24])
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 9,
        out_channels: int = 4,
        block_channels: tuple[int, ...] = (32, 64, 128),
        layers_per_block: int = 1,
        attention_levels: tuple[bool, ...] = (False, True, True),
        mid_attention: bool = True,
        heads: int = 4,
        cross_attention: bool = False,
        cloth_patch: int = 2,
        latent_channels: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        block_channels, attention_levels = tuple(block_channels), tuple(attention_levels)
        if len(attention_levels) != len(block_channels):
            raise ValueError(f"attention_levels {attention_levels} must have one entry per level of {block_channels}")
        base = block_channels[0]
        time_dim = 4 * base
        context_dim = block_channels[-1] if cross_attention else None

        # 1. time embedding and (optional) cloth tokens
        self.time_mlp = nn.Sequential(nn.Linear(base, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.cloth_tokens = ClothTokenizer(latent_channels, cloth_patch, context_dim) if cross_attention else None

        # 2. down: each level's block outputs are pushed on the skip stack
        self.conv_in = nn.Conv2d(in_channels, base, 3, padding=1)
        skip_chs = [base]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        ch = base
        for i, (out_ch, attn) in enumerate(zip(block_channels, attention_levels)):
            ins = [ch] + [out_ch] * (layers_per_block - 1)
            self.down.append(Level(ins, out_ch, time_dim, attn, heads, context_dim, dropout))
            skip_chs += [out_ch] * layers_per_block
            ch = out_ch
            last = i == len(block_channels) - 1
            self.downsample.append(nn.Identity() if last else Downsample(ch))
            if not last:
                skip_chs.append(ch)

        # 3. middle
        self.mid1 = ResBlock(ch, ch, time_dim, dropout)
        self.mid_attn = Attention(ch, heads) if mid_attention else nn.Identity()
        self.mid_cross = Attention(ch, heads, context_dim) if mid_attention and cross_attention else None
        self.mid2 = ResBlock(ch, ch, time_dim, dropout)

        # 4. up: every block pops one skip
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, (out_ch, attn) in reversed(list(enumerate(zip(block_channels, attention_levels)))):
            ins = []
            for _ in range(layers_per_block + 1):
                ins.append(ch + skip_chs.pop())
                ch = out_ch
            self.up.append(Level(ins, out_ch, time_dim, attn, heads, context_dim, dropout))
            self.upsample.append(Upsample(ch) if i > 0 else nn.Identity())
        assert not skip_chs, "skip bookkeeping is off"

        # 5. output
        self.norm_out = nn.GroupNorm(groups_for(ch), ch)
        self.conv_out = zero_module(nn.Conv2d(ch, out_channels, 3, padding=1))

    @property
    def downsampling(self) -> int:
        """Latent H and W must be divisible by this."""
        return 2 ** (len(self.config.block_channels) - 1)

    # the denoiser interface the pipeline relies on (`vton.registry`)
    origin = "vton"
    canvas_size = None  # works at the pipeline's working size

    @property
    def uses_cloth_latents(self) -> bool:
        """Whether ``forward`` needs the in-shop cloth's latent (cross-attention)."""
        return bool(self.config.cross_attention)

    def _check_inputs(self, sample: torch.Tensor, timestep: torch.Tensor, cloth_latents: torch.Tensor | None) -> None:
        c, f = self.config.in_channels, self.downsampling
        if sample.ndim != 4 or sample.shape[1] != c:
            raise ValueError(f"TryOnUNet expects (B, {c}, h, w) input (x_t, composite latent, mask), got {tuple(sample.shape)}")
        if sample.shape[-2] % f or sample.shape[-1] % f:
            raise ValueError(f"latent size {tuple(sample.shape[-2:])} must be divisible by {f} for this UNet's {len(self.config.block_channels)} levels")
        if timestep.shape[0] != sample.shape[0]:
            raise ValueError(f"got {timestep.shape[0]} timesteps for a batch of {sample.shape[0]}")
        if self.config.cross_attention:
            if cloth_latents is None:
                raise ValueError("this UNet has cross_attention=True: pass cloth_latents (B, 4, h, w)")
            if cloth_latents.shape[0] != sample.shape[0] or cloth_latents.shape[1] != self.config.latent_channels:
                raise ValueError(f"cloth_latents must be (B={sample.shape[0]}, {self.config.latent_channels}, h, w), got {tuple(cloth_latents.shape)}")

    def _level(self, level: Level, x, temb, context, skips: list | None, pop: bool):
        for i, (block, attn) in enumerate(zip(level.blocks, level.self_attn)):
            if pop:
                x = torch.cat((x, skips.pop()), dim=1)
            x = attn(block(x, temb))
            if exists(level.cross_attn):
                x = level.cross_attn[i](x, context)
            if not pop:
                skips.append(x)
        return x

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | int, cloth_latents: torch.Tensor | None = None) -> torch.Tensor:
        """``sample (B, 9, h, w)``, ``timestep`` int or ``(B,)`` -> predicted noise ``(B, 4, h, w)``.

        ``cloth_latents (B, 4, h, w)`` (the in-shop cloth's scaled VAE latent) is required
        when ``cross_attention`` is on and ignored otherwise.
        """
        timestep = torch.as_tensor(timestep, device=sample.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(sample.shape[0])
        self._check_inputs(sample, timestep, cloth_latents)

        # 1. conditioning
        temb = self.time_mlp(timestep_embedding(timestep, self.config.block_channels[0]).to(sample.dtype))
        context = self.cloth_tokens(cloth_latents.to(sample.dtype)) if exists(self.cloth_tokens) else None

        # 2. down
        x = self.conv_in(sample)
        h = [x]
        for level, down in zip(self.down, self.downsample):
            x = self._level(level, x, temb, context, h, pop=False)
            if not isinstance(down, nn.Identity):
                x = down(x)
                h.append(x)

        # 3. middle
        x = self.mid_attn(self.mid1(x, temb))
        if exists(self.mid_cross):
            x = self.mid_cross(x, context)
        x = self.mid2(x, temb)

        # 4. up
        for level, up in zip(self.up, self.upsample):
            x = self._level(level, x, temb, context, h, pop=True)
            x = up(x)

        # 5. output
        return self.conv_out(F.silu(self.norm_out(x)))
