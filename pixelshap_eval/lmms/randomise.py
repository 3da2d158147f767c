"""Weight randomisation for the model-parameter randomisation test, for any HF model.

`full` re-initialises every weight; `cascade:K` re-initialises the model's top K transformer
blocks (the last K of its longest block list, the last such list on ties: the language
model's layers in a VLM) and every
module after them (final norm, output head), the cascading randomisation of Adebayo et al.
(2018) taken K layers deep. Modules are re-initialised by their own `reset_parameters` under a
seeded torch generator, so the same seed gives the same weights.
"""

from __future__ import annotations

import re

import torch
from torch import nn

MODES = "full or cascade:K (K = number of top blocks, e.g. cascade:2)"
FALLBACK_STD = 0.02  # weights of modules without reset_parameters (e.g. custom RMSNorm scales get ones)


def _blocks(model: nn.Module) -> list[nn.Module]:
    """The longest nn.ModuleList of the model (the last one on ties, nearest the output): its blocks."""
    lists: list[nn.ModuleList] = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"randomize=cascade: {type(model).__name__} has no list of blocks; use randomize=full")
    longest = max(len(m) for m in lists)
    return list([m for m in lists if len(m) == longest][-1])


def selected_modules(model: nn.Module, mode: str) -> list[nn.Module]:
    """The modules `mode` re-initialises, in the model's own order."""
    if mode == "full":
        return list(model.modules())
    match = re.fullmatch(r"cascade:(\d+)", mode)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"randomize={mode!r} is not understood: use {MODES}")
    blocks = _blocks(model)
    depth = int(match.group(1))
    if depth > len(blocks):
        raise ValueError(f"randomize={mode}: the model has only {len(blocks)} blocks")
    top = blocks[-depth:]
    in_top = {id(m) for block in top for m in block.modules()}
    in_blocks = {id(m) for block in blocks for m in block.modules()}
    order = [m for _, m in model.named_modules()]
    start = next(i for i, m in enumerate(order) if m is top[0])
    # the top blocks, then what comes after the blocks (final norm, output head); not their ancestors
    return [m for i, m in enumerate(order) if id(m) in in_top or (i > start and id(m) not in in_blocks)]


@torch.no_grad()
def randomise_weights(model: nn.Module, mode: str, seed: int) -> int:
    """Re-initialise the weights `mode` selects from `seed`; returns how many tensors changed."""
    modules = selected_modules(model, mode)
    devices = [p.device for p in model.parameters() if p.device.type == "cuda"]
    with torch.random.fork_rng(devices=sorted(set(devices), key=str)):
        torch.manual_seed(seed)
        changed = 0
        for module in modules:
            own = list(module.parameters(recurse=False))
            if not own:
                continue
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
            else:
                for p in own:
                    if p.ndim == 1:
                        p.fill_(1.0)
                    else:
                        nn.init.normal_(p, std=FALLBACK_STD)
            changed += len(own)
    return changed
