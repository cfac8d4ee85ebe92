"""Training checkpoints: a HF model dir + ``trainer_state.safetensors`` + ``trainer_state.json``.

A checkpoint directory ``checkpoints/step-NNNNNNN`` holds everything exact resume needs:

- the model as a Hugging Face directory (``model.safetensors``, ``config.json``, tokenizer),
  float32 master weights;
- ``trainer_state.safetensors``: the AdamW moments and step counts (keyed by parameter name,
  via ``torch.distributed.checkpoint.state_dict``, so DDP and FSDP give full, unsharded
  tensors, gathered to rank 0 on the CPU: the checkpoint does not depend on the world size
  or the parallel mode), the torch CPU and CUDA RNG states; the optimizer's param groups and
  the LR scheduler state as JSON in the safetensors metadata;
- ``trainer_state.json``: step, data position (sequences consumed), the training config, the
  corpus fingerprint and the loss history so far.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from yotsuba.core.errors import InputError

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"


def _options(full: bool, **kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=full, cpu_offload=full, **kw)


def gather_optimizer_state(model: Any, optimizer: Any, distributed: bool) -> dict[str, Any]:
    """Full optimizer state keyed by parameter FQN.

    Collective under FSDP: call on all ranks; rank 0 gets the full state on the CPU, the
    others an empty dict. Under FSDP every unit must be resharded first (see
    ``_train_dist._reshard``).
    """
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    out: dict[str, Any] = get_optimizer_state_dict(
        model, optimizer, options=_options(distributed)
    )
    return out


def gather_model_state(model: Any, distributed: bool) -> dict[str, Any]:
    """Full model state dict (collective under FSDP: call on all ranks; only rank 0 gets it)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    out: dict[str, Any] = get_model_state_dict(model, options=_options(distributed))
    return out


def write_state(
    ckpt: Path,
    optim_state: dict[str, Any],
    scheduler_state: dict[str, Any],
    info: dict[str, Any],
) -> None:
    """Write trainer_state.safetensors (+ .json) into ``ckpt`` (rank 0 only)."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    for fqn, st in optim_state["state"].items():
        for key, val in st.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"optim.{fqn}.{key}"] = t.detach().cpu().contiguous()
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta = {
        "param_groups": json.dumps(optim_state["param_groups"]),
        "scheduler": json.dumps(scheduler_state),
        "format": "yotsuba-trainer-state-1",
    }
    tmp = ckpt / (STATE_TENSORS + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(ckpt / STATE_TENSORS)
    tmpj = ckpt / (STATE_JSON + ".tmp")
    tmpj.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    tmpj.replace(ckpt / STATE_JSON)


def read_info(ckpt: Path) -> dict[str, Any]:
    """``trainer_state.json`` of a checkpoint, with a clear error if it is not one."""
    path = ckpt / STATE_JSON
    if not (path.is_file() and (ckpt / STATE_TENSORS).is_file()):
        raise InputError(
            f"{ckpt}: not a training checkpoint (no {STATE_JSON} / {STATE_TENSORS}): give a "
            "directory <out>/checkpoints/step-NNNNNNN written by `yotsuba slm train`"
        )
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: corrupt checkpoint state ({exc.msg})") from exc
    return info


def read_state(ckpt: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(optimizer state keyed by FQN, scheduler state, RNG tensors) of a checkpoint."""
    from safetensors import safe_open

    path = ckpt / STATE_TENSORS
    state: dict[str, dict[str, Any]] = {}
    rng: dict[str, Any] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                if key.startswith("rng."):
                    rng[key[4:]] = f.get_tensor(key)
                    continue
                fqn, _, name = key[len("optim.") :].rpartition(".")
                state.setdefault(fqn, {})[name] = f.get_tensor(key)
        groups = json.loads(meta["param_groups"])
        sched = json.loads(meta["scheduler"])
    except Exception as exc:  # safetensors/JSON/KeyError: all mean a corrupt checkpoint
        raise InputError(
            f"{path}: unreadable checkpoint state ({type(exc).__name__}: {exc}): use an "
            "earlier checkpoint"
        ) from exc
    return {"state": state, "param_groups": groups}, sched, rng


def load_optimizer_state(model: Any, optimizer: Any, state: dict[str, Any], dist: bool) -> None:
    """Load a full FQN-keyed optimizer state (every rank passes the same full state)."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, optim_state_dict=state, options=_options(dist))


def prune(ckpt_root: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest step-* checkpoints."""
    steps = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
    for old in steps[: max(len(steps) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)
