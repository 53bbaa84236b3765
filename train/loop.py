"""What the training loops share: the optimiser step, a progress line every few steps, and
checkpoints written whole or not at all, so a stopped run (a session cut, a killed process)
resumes where it was."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

LOG_EVERY = 20  # steps between progress lines


def save_checkpoint(path: Path, model: Any, optimizer: Any, schedule: Any, **fields: Any) -> None:
    """Write the training state and ``fields`` (step, the plan) whole or not at all: a run killed
    while saving resumes from the previous one."""
    import torch

    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        **fields,
    }
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(path)


def resume_checkpoint(
    path: Path, model: Any, optimizer: Any, schedule: Any, device: Any, **plan: Any
) -> dict[str, Any] | None:
    """Restore the training state saved at ``path`` if it was saved under the same ``plan``
    (e.g. total steps and data size); its other fields, or None when there is nothing to
    resume."""
    import torch

    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=False)
    if any(state.get(key) != value for key, value in plan.items()):
        return None
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state


def optimiser(parameters: Any, lr: float, total: int, warmup_share: float) -> tuple[Any, Any]:
    """AdamW (weight decay 0.01) and its schedule: linear warm-up over ``warmup_share`` of the
    ``total`` steps, then linear decay to zero at ``total``."""
    import torch

    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    warmup = max(1, int(total * warmup_share))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(total - warmup, 1))),
    )
    return optimizer, schedule


def optimise(loss: Any, parameters: Any, optimizer: Any, schedule: Any) -> None:
    """One step on ``loss``: gradients clipped to norm 1, then the optimiser and the schedule."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)


def log_progress(logger: logging.Logger, step: int, total: int, loss: Any, trained: float) -> None:
    """One progress line every LOG_EVERY steps: the step, the batch's loss, the pace."""
    if step % LOG_EVERY == 0:
        logger.info(
            "step %d/%d loss %.4f, %.2f s/step, %.1f min trained",
            step, total, float(loss.item()), trained / step, trained / 60,
        )  # fmt: skip
