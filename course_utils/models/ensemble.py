"""Several independent MLPs evaluated as one module: cheap seeds and grids for the 2-D toy GANs (notebook 05).

Small MLPs on 2-D points are bound by per-operation overhead, not arithmetic, so training three seeds (or a
grid of learning rates × seeds) one after another costs three (or nine) times the overhead. :class:`Ensemble`
holds ``S`` ordinary members (e.g. :class:`~course_utils.models.gan.MLPGenerator`, each built and initialised
on its own) and evaluates them together with batched matrix products: rows ``s·B … (s+1)·B − 1`` of the input
``[S·B, d]`` go to member ``s``. The members share no parameter and no statistic, so any loss that is a mean
over rows is ``1/S`` times the sum of the members' own losses: every member receives the gradient it would
receive alone, scaled by ``1/S``, which Adam and RMSprop (invariant to the scale of the gradient, up to their
ε) undo. An optimiser with one parameter group per member (:func:`member_groups`) gives each member its own
learning rate. A per-sample gradient penalty (Gulrajani et al., 2017, eq. 3) stays per sample: row ``i``'s
score depends only on row ``i``. BatchNorm is applied per member (statistics over the member's own ``B`` rows).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    """``S`` members of the same architecture (built by ``build(seed)`` after ``torch.manual_seed(seed)``, one
    per seed) evaluated together.

    The members' ``net`` must be an ``nn.Sequential`` of ``nn.Linear``, ``nn.BatchNorm1d`` and elementwise
    activations (the MLPs of :mod:`course_utils.models.gan`). ``forward``: ``[S·B, d_in]`` (member-major rows)
    → ``[S·B, d_out]``; member ``s``'s rows equal ``members[s](x[s·B:(s+1)·B])`` (in train and eval mode).
    """

    def __init__(self, build: Callable[[int], nn.Module], seeds: Sequence[int]) -> None:
        super().__init__()
        members = []
        for seed in seeds:
            torch.manual_seed(int(seed))
            members.append(build(int(seed)))
        self.members = nn.ModuleList(members)
        self.seeds = [int(s) for s in seeds]
        self.out_shape = getattr(members[0], "out_shape", None)
        for m in members:
            for layer in m.net:
                if not isinstance(layer, (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Identity)):
                    raise TypeError(f"Ensemble cannot batch a {type(layer).__name__} layer")

    def __len__(self) -> int:
        return len(self.members)

    def _batch_norm(self, h: torch.Tensor, j: int) -> torch.Tensor:
        layers = [m.net[j] for m in self.members]
        gamma = torch.stack([bn.weight for bn in layers]).unsqueeze(1)        # [S, 1, H]
        beta = torch.stack([bn.bias for bn in layers]).unsqueeze(1)
        if self.training:
            mean, var = h.mean(dim=1, keepdim=True), h.var(dim=1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = h.shape[1]
                unbiased = var.squeeze(1) * n / max(n - 1, 1)
                for s, bn in enumerate(layers):
                    bn.running_mean.lerp_(mean[s, 0].to(bn.running_mean.dtype), bn.momentum)   # (h may be bf16)
                    bn.running_var.lerp_(unbiased[s].to(bn.running_var.dtype), bn.momentum)
                    bn.num_batches_tracked += 1
        else:
            mean = torch.stack([bn.running_mean for bn in layers]).unsqueeze(1)
            var = torch.stack([bn.running_var for bn in layers]).unsqueeze(1)
        return (h - mean) * torch.rsqrt(var + layers[0].eps) * gamma + beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = len(self.members)
        if x.shape[0] % size:
            raise ValueError(f"{x.shape[0]} rows cannot be split among {size} members")
        h = x.reshape(size, x.shape[0] // size, -1)                            # [S, B, d]
        for j, layer in enumerate(self.members[0].net):
            if isinstance(layer, nn.Linear):
                weight = torch.stack([m.net[j].weight for m in self.members])  # [S, out, in]
                bias = torch.stack([m.net[j].bias for m in self.members]).unsqueeze(1)
                h = torch.baddbmm(bias, h, weight.transpose(1, 2))
            elif isinstance(layer, nn.BatchNorm1d):
                h = self._batch_norm(h, j)
            else:
                h = layer(h)
        out = h.reshape(x.shape[0], -1)
        return out if self.out_shape is None else out.view(-1, *self.out_shape)

    def split(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """The rows ``[S·B, ...]`` of each member: a list of ``S`` tensors ``[B, ...]``."""
        return list(rows.chunk(len(self.members)))


def member_groups(ensemble: Ensemble, **per_member: Sequence) -> list[dict]:
    """One optimiser parameter group per member, with per-member settings, e.g.
    ``torch.optim.Adam(member_groups(G, lr=[1e-4, 1e-3, 1e-2]), betas=(0.5, 0.9))``."""
    groups = []
    for s, member in enumerate(ensemble.members):
        group = {"params": list(member.parameters())}
        for key, values in per_member.items():
            if len(values) != len(ensemble.members):
                raise ValueError(f"{key}: {len(values)} values for {len(ensemble.members)} members")
            group[key] = values[s]
        groups.append(group)
    return groups


def tile_rows(x: torch.Tensor, members: int) -> torch.Tensor:
    """The same rows ``[N, ...]`` for every member: ``[members·N, ...]`` (e.g. one fixed noise batch)."""
    return x.repeat(members, *([1] * (x.dim() - 1)))

