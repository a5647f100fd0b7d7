"""VITS residual-coupling normalising flow (Kim et al. 2021), mask-free.

The decoder of the conversion model: a stack of mean-only affine coupling
layers, each conditioned on a speaker embedding through a WaveNet-style gated
dilated convolution stack (``WN``), with channel flips between layers. At
inference the flows run in reverse to map a prior sample to the target
speaker's latent. Sequences are full length, so the ``x_mask`` of the reference
implementation is dropped.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from avbench.models.weight_norm import remove_weight_norm, weight_norm

# Scale of the random coupling-output init. VITS zero-initialises ``post`` so
# a *trained* flow starts from identity; an untrained benchmark model would then
# be an exact identity whose output never reflects precision or kernel changes.
# A small non-zero init keeps the flow invertible and near identity yet live.
_POST_INIT_STD = 0.02


class WN(nn.Module):
    """WaveNet-style gated dilated conv stack with global conditioning.

    Layer ``i`` uses dilation ``dilation_rate**i``; each layer's gate input is
    ``conv(x) + cond(g)``, ``tanh(a) * sigmoid(b)``, followed by a 1x1 conv
    split into a residual part (fed to the next layer) and a skip part (summed
    into the output). All convs are weight-normed as in VITS.

    Shapes:
        x ``(B, hidden, T)``, g ``(B, gin_channels, 1)`` -> ``(B, hidden, T)``.
    """

    def __init__(
        self,
        hidden: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep T unchanged, got {kernel_size}")
        self.hidden = hidden
        self.n_layers = n_layers
        # One 1x1 conv produces the conditioning of every layer at once.
        self.cond_layer = weight_norm(nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1))
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                weight_norm(
                    nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=dilation, padding=padding)
                )
            )
            # The last layer has no next layer to feed: skip output only.
            res_skip_channels = 2 * hidden if i < n_layers - 1 else hidden
            self.res_skip_layers.append(weight_norm(nn.Conv1d(hidden, res_skip_channels, 1)))

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        """``(B, hidden, T)``, ``(B, gin_channels, 1)`` -> ``(B, hidden, T)``."""
        cond = self.cond_layer(g)
        output = torch.zeros_like(x)
        n = self.hidden
        for i, (in_layer, res_skip_layer) in enumerate(
            zip(self.in_layers, self.res_skip_layers, strict=True)
        ):
            # (B, 2n, 1) conditioning broadcasts over time.
            gate_in = in_layer(x) + cond[:, i * 2 * n : (i + 1) * 2 * n]
            acts = torch.tanh(gate_in[:, :n]) * torch.sigmoid(gate_in[:, n:])
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                x = x + res_skip[:, :n]
                output = output + res_skip[:, n:]
            else:
                output = output + res_skip
        return output


class ResidualCouplingLayer(nn.Module):
    """Mean-only affine coupling: the second channel half is shifted by a
    function of the first half and the speaker embedding.

    Shapes:
        x ``(B, channels, T)``, g ``(B, gin_channels, 1)`` -> ``(B, channels, T)``.
    """

    def __init__(
        self,
        channels: int,
        hidden: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        if channels % 2 != 0:
            raise ValueError(f"channels must be even for a half split, got {channels}")
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WN(hidden, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)
        nn.init.normal_(self.post.weight, std=_POST_INIT_STD)
        nn.init.zeros_(self.post.bias)

    def forward(self, x: Tensor, g: Tensor, reverse: bool = False) -> Tensor:
        """Apply (``reverse=False``) or invert (``reverse=True``) the coupling."""
        x0, x1 = x[:, : self.half], x[:, self.half :]
        mean = self.post(self.enc(self.pre(x0), g))
        # Mean-only: log-scale is zero, so the Jacobian determinant is 1.
        x1 = x1 - mean if reverse else x1 + mean
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    """Reverse the channel order so the next coupling transforms the other half.

    Its own inverse. Shapes: ``(B, C, T) -> (B, C, T)``.
    """

    def forward(self, x: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        return torch.flip(x, [1])


class ResidualCouplingFlow(nn.Module):
    """Stack of ``n_flows`` (coupling, flip) pairs conditioned on a speaker embedding.

    Args:
        channels: latent channels (even).
        hidden: WN channels.
        kernel_size: odd WN kernel.
        dilation_rate: WN dilation growth per layer.
        n_layers: WN layers per coupling.
        n_flows: coupling layers.
        gin_channels: speaker-embedding channels.

    Shapes:
        x ``(B, channels, T)``, g ``(B, gin_channels, 1)`` -> ``(B, channels, T)``.
    """

    def __init__(
        self,
        channels: int = 192,
        hidden: int = 192,
        kernel_size: int = 5,
        dilation_rate: int = 1,
        n_layers: int = 4,
        n_flows: int = 4,
        gin_channels: int = 256,
    ) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                ResidualCouplingLayer(
                    channels, hidden, kernel_size, dilation_rate, n_layers, gin_channels
                )
            )
            self.flows.append(Flip())

    def forward(self, x: Tensor, g: Tensor, reverse: bool = True) -> Tensor:
        """Run the flow; ``reverse=True`` (inference) applies the inverse, last flow first.

        ``reverse`` is a Python flag fixed at export time, not a tensor branch.
        """
        flows = reversed(self.flows) if reverse else self.flows
        for flow in flows:
            x = flow(x, g, reverse=reverse)
        return x

    def remove_weight_norm(self) -> None:
        """Fold the WN weight norms into plain convs (do this before export)."""
        remove_weight_norm(self)
