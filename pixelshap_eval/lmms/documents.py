"""From a dataset row to what the attribution needs: prompt text, players, target, seed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pixelshap_eval.data.schema import decode_mask, object_regions
from pixelshap_eval.grid import GridFrame
from pixelshap_eval.images import to_rgb
from pixelshap_eval.lmms.config import AttributionConfig
from pixelshap_eval.lmms.scaling import model_size, scale_region
from pixelshap_eval.players import Region, grid_regions, regions_from_sam


@dataclass(frozen=True, eq=False)
class DocPlayers:
    """The players of one document, and where its target object is among them."""

    regions: list[Region]
    target_index: int | None  # index into `regions`; None when the target is not a player
    target_region: Region | None  # the target's own region (scored even when it is no player)
    frame: GridFrame | None = None  # grid players: the grid they are the cells of


def doc_key(doc: dict[str, Any]) -> str:
    """A document's stable identity (its question id): plan seeds and sample rows key on it."""
    if "question_id" not in doc:
        raise KeyError("pixelshap documents need a 'question_id' column; rebuild the dataset with `pixelshap-eval build`")
    return str(doc["question_id"])


def doc_seed(seed: int, key: str) -> int:
    """The plan seed of one document: a stable hash of the task seed and the document key."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """The question, with the task's (or the model's) pre/post prompt around it."""
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The full, unmasked image."""
    return [to_rgb(doc["image"])]


def doc_players(doc: dict[str, Any], config: AttributionConfig, image: Image.Image | None = None) -> DocPlayers:
    """Build the players of `doc` as `config` says (objects, grid cells or SAM segments), on
    the image the model sees (`scaling.model_size`: at most `max_image_side` pixels a side;
    `image`, for SAM, is that image)."""
    size = model_size(int(doc["width"]), int(doc["height"]), config.max_image_side)
    target_region = _target_region(doc)
    target_region = scale_region(target_region, size) if target_region is not None else None
    if config.players == "grid":
        frame = GridFrame(size[0], size[1], config.grid_rows, config.grid_cols, config.grid_pad_to_square)
        regions = grid_regions(size, frame.rows, frame.cols, pad_to_square=frame.pad_to_square)
        return DocPlayers(regions=regions, target_index=None, target_region=target_region, frame=frame)
    if config.players == "sam":
        if image is None:
            raise ValueError("SAM players need the document's image")
        regions = regions_from_sam(image, checkpoint=config.sam_checkpoint, model_type=config.sam_model_type)
        return DocPlayers(regions=regions, target_index=None, target_region=target_region)
    regions = [scale_region(region, size) for region in object_regions(doc)]
    target = doc.get("target_index")
    keep = np.arange(len(regions))
    if len(regions) > config.max_players:
        areas = np.array([r.area for r in regions])
        keep = np.sort(np.argsort(-areas, kind="stable")[: config.max_players])
    kept = [regions[i] for i in keep]
    target_index = None
    if target is not None and int(target) in keep:
        target_index = int(np.flatnonzero(keep == int(target))[0])
    return DocPlayers(regions=kept, target_index=target_index, target_region=target_region)


def _target_region(doc: dict[str, Any]) -> Region | None:
    target = doc.get("target")
    if not target or not target.get("mask_rle"):
        return None
    mask = decode_mask(target["mask_rle"], int(doc["height"]), int(doc["width"]))
    return Region(label=target["category"], mask=mask, box=tuple(target["box"]), id=int(target["id"]))
