"""Distributed-training plumbing of :func:`yotsuba.slm.train.train` under ``torchrun``.

:class:`_Dist` says this process's world size and rank (from ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``) and :func:`_dist_setup` starts the process group (NCCL on GPUs, else gloo);
:func:`_is_fsdp`, :func:`_reshard` and :func:`_unwrapped_full` handle an FSDP2-wrapped model:
freeing the unsharded root parameters after an evaluation, and gathering the full weights to
rank 0 when a checkpoint is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from yotsuba.slm import _train_ckpt as ckpt_io


@dataclass
class _Dist:
    world: int
    rank: int
    local_rank: int
    active: bool

    @property
    def main(self) -> bool:
        return self.rank == 0


def _dist_setup(torch: Any) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world <= 1:
        return _Dist(1, 0, 0, False)
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return _Dist(world, rank, local, True)


def _unwrapped_full(model: Any, d: _Dist, tf: Any) -> Any:
    """A plain float32 CPU model holding the full weights; None on ranks other than 0.

    Under FSDP the shards are gathered to rank 0 (a collective: every rank must call this).
    """
    if not d.active or not _is_fsdp(model):
        return model
    full = ckpt_io.gather_model_state(model, True)  # rank 0: full tensors; others: {}
    if not d.main:
        return None
    fresh = tf.LlamaForCausalLM(model.config)
    fresh.load_state_dict(full)  # strict: fails loudly if a shard were missing
    return fresh


def _is_fsdp(model: Any) -> bool:
    return type(model).__name__.startswith("FSDP")


def _reshard(model: Any) -> None:
    """Free the gathered parameters FSDP keeps after a no-grad forward (e.g. evaluation).

    FSDP2 does not reshard the root unit after a forward pass (it expects the backward to
    need the weights again). After an evaluation there is no backward, so the root's
    parameters (embed_tokens = lm_head, the final norm) stay registered as unsharded tensors
    that are not the optimizer's sharded parameters, and
    ``get_optimizer_state_dict`` then fails with ``KeyError: 0`` (torch 2.13).
    """
    if not _is_fsdp(model):
        return
    from torch.distributed.fsdp import FSDPModule

    for m in model.modules():
        if isinstance(m, FSDPModule):
            m.reshard()
