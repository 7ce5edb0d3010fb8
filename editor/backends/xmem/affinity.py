"""Memory reading: key similarity and (top-k) softmax affinities.

Shapes: memory keys ``mk`` are ``B x C_k x N``, memory shrinkage ``ms`` ``B x 1 x N``,
query keys ``qk`` and query selection ``qe`` ``B x C_k x M``. Similarities and affinities
are ``B x N x M`` (memory along dimension 1).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["similarity", "softmax_over_memory", "topk_softmax"]


def similarity(mk: Tensor, ms: Tensor | None, qk: Tensor, qe: Tensor | None) -> Tensor:
    """Negative selection-weighted squared distance, scaled by the memory shrinkage.

    ``S[i, j] = -ms[i] * sum_c qe[c, j] * (mk[c, i] - qk[c, j])**2 / sqrt(C_k)``, expanded as
    ``-mk²·qe + 2·mk·(qk*qe) - sum(qe*qk²)``. Without a selection the plain L2 form
    ``-|mk|² + 2·mk·qk`` is used (the query norm does not change a softmax over memory).
    """
    if torch.is_autocast_enabled(mk.device.type) or mk.dtype != torch.float32:
        # -|a|² + 2ab - |b|² cancels catastrophically in bf16/fp16: always float32 here
        with torch.autocast(mk.device.type, enabled=False):
            return similarity(mk.float(), None if ms is None else ms.float(), qk.float(),
                              None if qe is None else qe.float())
    ck = mk.shape[1]
    mk = mk.flatten(start_dim=2)
    qk = qk.flatten(start_dim=2)
    if qe is not None:
        qe = qe.flatten(start_dim=2)
        mk_t = mk.transpose(1, 2)
        a_sq = mk_t.pow(2) @ qe
        two_ab = 2 * (mk_t @ (qk * qe))
        b_sq = (qe * qk.pow(2)).sum(1, keepdim=True)
        sim = -a_sq + two_ab - b_sq
    else:
        a_sq = mk.pow(2).sum(1).unsqueeze(2)
        two_ab = 2 * (mk.transpose(1, 2) @ qk)
        sim = -a_sq + two_ab
    if ms is not None:
        sim = sim * ms.flatten(start_dim=1).unsqueeze(2)
    return sim / math.sqrt(ck)


def topk_softmax(sim: Tensor, top_k: int) -> Tensor:
    """Softmax over the ``top_k`` largest entries of each column; zeros elsewhere.

    ``top_k`` is clamped to the memory size. The maximum is subtracted before
    exponentiation (the original does not; the result is the same up to rounding and this
    cannot overflow or underflow to 0/0 in reduced precision).
    """
    k = min(top_k, sim.shape[1])
    values, indices = torch.topk(sim, k=k, dim=1)
    weights = torch.exp(values - values[:, :1])
    weights = weights / weights.sum(dim=1, keepdim=True)
    return torch.zeros_like(sim).scatter_(1, indices, weights)


def softmax_over_memory(sim: Tensor) -> Tensor:
    """Full softmax over the memory dimension (used to potentiate long-term prototypes)."""
    exp = torch.exp(sim - sim.amax(dim=1, keepdim=True))
    return exp / exp.sum(dim=1, keepdim=True)
