"""Masking in the model's input space: each coalition's `pixel_values` from the document's
processed full image, its processed fill and the coalition's hidden-pixel mask.

Masking the image and then running the HF image processor costs one full preprocessing
(decode to a tensor, resize, crop or patch, normalise) per coalition. Here the processor runs
once per document on the full image and once on the fill (the masker's fill over the whole
image), and each coalition's pixels are the blend ``full * (1 - w) + fill * w``, where ``w`` is
the hidden-pixel mask sent through the processor's own geometry: the same image processor
called on the mask as a 3-channel float image, without rescaling or normalising (and with a
zero pad colour, so that LLaVA's pad-to-square pads the mask as "visible"; padding is the same
in the full and fill images, so any weight there gives the same pixels). Pad, resize (with the
processor's resampling), centre crop, any-resolution tiling and Qwen-VL patching all apply as
the processor applies them, and the mask of a whole batch goes through in one call.

Where every processed pixel comes from visible or from hidden pixels only (nothing or
everything hidden, nearest resampling) the result is the image path's exactly; at the borders
of hidden regions an interpolating resize mixes the two, and the blend of the processed images
differs slightly from the processed blend (`scripts/bench_input_masking.py` measures by how
much). Needs a torchvision-backend image processor (the default in transformers 5).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pixelshap_eval.images import to_rgb
from pixelshap_eval.lmms.cache import LRUCache
from pixelshap_eval.masking import Masker, dilate
from pixelshap_eval.players import Region, box_pixel_bounds

# a document with more atoms is asked with masked images: each atom holds one processed image
# (a 12x12 grid with grown boxes has ~1,000 atoms)
MAX_ATOMS = 256
_ATOMS_PER_CALL = 24  # atoms one processor call maps (8 images): bounds the one-hot masks' memory
_SNAP = 1e-5  # mask weights this close to 0 or 1 are 0 or 1 (a resized all-ones mask sums to 1 - 6e-8)


@dataclass(frozen=True)
class PixelAtoms:
    """A partition of an image's pixels into atoms on which every coalition's hidden mask is
    constant: the pixels that lie in the same players' (grown) boxes and (dilated) masks.
    `labels` (H, W) gives each pixel's atom; `in_box` and `in_mask` (atoms, players) say which
    players' box and mask each atom lies in. A few dozen atoms stand for a whole image."""

    labels: np.ndarray
    in_box: np.ndarray
    in_mask: np.ndarray
    masker: Masker

    def __len__(self) -> int:
        return len(self.in_box)

    def hidden(self, coalitions: np.ndarray) -> np.ndarray:
        """(coalitions, atoms) bool: which atoms each coalition (rows of True = visible) hides,
        by the masker's rules (`Masker.hidden_pixels`)."""
        hidden_players = (~np.asarray(coalitions, dtype=bool)).astype(np.int64)
        if self.masker.strategy == "precise":
            return np.asarray(hidden_players @ self.in_mask.T.astype(np.int64) > 0)
        covered = hidden_players @ self.in_box.T.astype(np.int64) > 0
        if self.masker.strategy == "bbox":
            return np.asarray(covered)
        kept = (1 - hidden_players) @ self.in_mask.T.astype(np.int64) > 0
        return np.asarray(covered & ~kept)


def pixel_atoms(image_size: tuple[int, int], regions: Sequence[Region], masker: Masker) -> PixelAtoms:
    """The atoms of an image of `image_size` = (width, height) for `regions` under `masker`."""
    width, height = image_size
    bits = np.zeros((2 * len(regions), height, width), dtype=bool)
    for i, region in enumerate(regions):
        if masker.strategy != "precise":
            x0, y0, x1, y1 = box_pixel_bounds(region.box, (width, height), int(masker.box_margin))
            bits[i, y0:y1, x0:x1] = True
        if masker.strategy != "bbox":
            window = region.pixel_bounds
            bits[len(regions) + i][window] = region.mask[window]
    if masker.strategy == "precise" and masker.dilation:
        bits[len(regions) :] = [dilate(m, int(masker.dilation)) for m in bits[len(regions) :]]
    if len(bits) <= 64:  # each pixel's signature as one integer: a fast unique
        signature_of = np.zeros((height, width), dtype=np.uint64)
        for k, plane in enumerate(bits):
            signature_of |= plane.astype(np.uint64) << np.uint64(k)
        rows: np.ndarray = signature_of.ravel()
    else:
        packed = np.packbits(bits, axis=0).reshape(-1, height * width).T  # one row of bytes per pixel
        rows = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, labels = np.unique(rows, return_index=True, return_inverse=True)
    signature = bits.reshape(len(bits), -1)[:, first].T  # (atoms, 2 * players)
    return PixelAtoms(
        labels=labels.reshape(height, width).astype(np.int32),
        in_box=signature[:, : len(regions)], in_mask=signature[:, len(regions) :], masker=masker,
    )


@dataclass(frozen=True)
class CoalitionInput:
    """One coalition as input-space masking needs it: the document (its cache key), the full
    RGB image, the image's pixel atoms and which of them the coalition hides."""

    document: Hashable
    image: Image.Image
    atoms: PixelAtoms
    hidden_atoms: np.ndarray

    @property
    def masker(self) -> Masker:
        return self.atoms.masker

    @property
    def hidden(self) -> np.ndarray:
        """The (H, W) bool mask of the pixels the coalition hides."""
        return np.asarray(self.hidden_atoms[self.atoms.labels])


@dataclass(frozen=True)
class EncodedDocument:
    """One document's processor output, computed once: the prompt's token ids (and any other
    per-token tensors), the image tensors other than the pixels (e.g. `image_grid_thw`), the
    processed pixels of the full and of the fill image, and each pixel atom's indicator mask
    through the processor's geometry, (atoms, *full.shape)."""

    input_ids: torch.Tensor
    token_extras: dict[str, torch.Tensor]
    image_extras: dict[str, torch.Tensor]
    full: torch.Tensor
    fill: torch.Tensor
    atom_weights: torch.Tensor

    def pixels(self, hidden_atoms: np.ndarray) -> torch.Tensor:
        """(coalitions, *full.shape): the pixels of coalitions hiding `hidden_atoms` (rows)."""
        chosen = torch.from_numpy(np.asarray(hidden_atoms, dtype=np.float32))
        weights = (chosen @ self.atom_weights.reshape(len(self.atom_weights), -1)).reshape(len(chosen), *self.full.shape)
        weights = weights.clamp_(0.0, 1.0)
        weights = torch.where(weights < _SNAP, 0.0, torch.where(weights > 1.0 - _SNAP, 1.0, weights))
        return torch.lerp(self.full.expand_as(weights), self.fill.expand_as(weights), weights)


def supports_input_space(processor: object) -> bool:
    """Whether `processor`'s image processor can process masks (a torchvision backend)."""
    image_processor = getattr(processor, "image_processor", None)
    return getattr(image_processor, "backend", None) == "torchvision"


def fill_image(image: Image.Image, masker: Masker) -> Image.Image:
    """The image with every pixel hidden by `masker`'s fill."""
    rgb = to_rgb(image)
    source = masker.fill_source(rgb)
    if isinstance(source, Image.Image):
        return source
    return Image.new("RGB", rgb.size, source)


class InputSpaceEncoder:
    """Builds model inputs for batches of coalitions of one processor's model; keeps the
    encodings of the last `cache_size` (document, masker, prompt) triples (each holds the
    processed image once per pixel atom)."""

    def __init__(self, processor: object, cache_size: int = 8) -> None:
        if not supports_input_space(processor):
            raise ValueError(
                f"masking=input needs a torchvision-backend image processor; {type(getattr(processor, 'image_processor', processor)).__name__} "
                "is not one: use masking=image"
            )
        self.processor = processor
        self.image_processor = getattr(processor, "image_processor")
        self.tokenizer = getattr(processor, "tokenizer")
        self._documents: LRUCache[EncodedDocument] = LRUCache(cache_size)

    def document(self, prompt: str, coalition: CoalitionInput) -> EncodedDocument:
        """The encoding of `coalition`'s document under `prompt` (cached)."""
        key = (coalition.document, coalition.masker, prompt)
        return self._documents.get(key, lambda: self._encode_document(prompt, coalition))

    def _encode_document(self, prompt: str, coalition: CoalitionInput) -> EncodedDocument:
        image = to_rgb(coalition.image)
        encoded = self.processor(text=[prompt], images=[image], return_tensors="pt")  # type: ignore[operator]
        ids = encoded.pop("input_ids")
        encoded.pop("attention_mask", None)
        full = encoded.pop("pixel_values")
        token_extras = {k: v[0] for k, v in encoded.items() if torch.is_tensor(v) and v.shape == ids.shape}
        image_extras = {k: v for k, v in encoded.items() if torch.is_tensor(v) and k not in token_extras}
        fill = self.image_processor(images=[fill_image(image, coalition.masker)], return_tensors="pt")["pixel_values"]
        return EncodedDocument(ids[0], token_extras, image_extras, full, fill, self._atom_weights(coalition.atoms, full.shape))

    def _atom_weights(self, atoms: PixelAtoms, shape: torch.Size) -> torch.Tensor:
        """Each atom's indicator mask through the image processor, without rescaling or
        normalising (pad colour 0): (atoms, *shape). Atoms travel three to an image, one per
        colour channel, and each comes back broadcast over the channels of its own layout."""
        labels = torch.from_numpy(atoms.labels)
        count = len(atoms)
        padded = count + (-count) % 3
        mapped: list[torch.Tensor] = []
        for start in range(0, padded, _ATOMS_PER_CALL):
            stop = min(start + _ATOMS_PER_CALL, padded)
            onehot = (labels[None] == torch.arange(start, stop)[:, None, None]).to(torch.float32)
            images = list(onehot.reshape(-1, 3, *labels.shape))
            out = self.image_processor(
                images=images, do_rescale=False, do_normalize=False, image_mean=[0.0, 0.0, 0.0], return_tensors="pt"
            )["pixel_values"]
            for image in _split_like(out, [shape] * len(images)):
                channels = _channels_first(image)  # (3, ...): one atom per channel
                mapped.extend(_channels_back(channel.expand_as(channels), shape) for channel in channels)
        return torch.stack(mapped[:count])

    def encode(self, prompts: Sequence[str], coalitions: Sequence[CoalitionInput]) -> dict[str, torch.Tensor]:
        """The batch of model inputs (left-padded) for `coalitions` asked with `prompts`."""
        documents = [self.document(p, c) for p, c in zip(prompts, coalitions)]
        pixels: list[torch.Tensor | None] = [None] * len(coalitions)
        groups: dict[int, list[int]] = {}
        for i, document in enumerate(documents):
            groups.setdefault(id(document), []).append(i)
        for members in groups.values():
            blended = documents[members[0]].pixels(np.stack([coalitions[i].hidden_atoms for i in members]))
            for i, row in zip(members, blended):
                pixels[i] = row
        batch = _left_pad([d.input_ids for d in documents], int(self.tokenizer.pad_token_id))
        for key in documents[0].token_extras:
            batch[key] = _left_pad([d.token_extras[key] for d in documents], 0)["input_ids"]
        batch["pixel_values"] = _concatenate([p for p in pixels if p is not None])
        for key in documents[0].image_extras:
            batch[key] = torch.cat([d.image_extras[key] for d in documents])
        return batch


def _channels_first(pixels: torch.Tensor) -> torch.Tensor:
    """A processed image with its colour channels on the first axis: (..., C, H, W) images, or
    Qwen-VL patch rows (patches, C * T * P * P) whose channel is the slowest of each row."""
    if pixels.ndim == 2:
        return pixels.reshape(len(pixels), 3, -1).movedim(1, 0)
    return pixels.movedim(-3, 0)


def _channels_back(channels: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of `_channels_first` for a processed image of `shape`."""
    if len(shape) == 2:
        return channels.movedim(0, 1).reshape(shape)
    return channels.movedim(0, -3).reshape(shape)


def _split_like(stacked: torch.Tensor, shapes: list[torch.Size]) -> list[torch.Tensor]:
    """Split the processor's output for a batch of masks back into one tensor per mask."""
    if len(stacked) == len(shapes) and all(s[0] == 1 for s in shapes):  # one image per row (tiles padded to the most)
        return [stacked[i : i + 1][tuple(slice(0, n) for n in shape)] for i, shape in enumerate(shapes)]
    sizes = [shape[0] for shape in shapes]
    return [part.reshape(shape) for part, shape in zip(torch.split(stacked, sizes), shapes)]


def _concatenate(pixels: list[torch.Tensor]) -> torch.Tensor:
    """One batch of pixel tensors: concatenated along the first axis; any-resolution tiles
    (N, tiles, C, H, W) zero-padded to the most tiles first, as the processor pads them."""
    if pixels[0].ndim == 5:
        most = max(p.shape[1] for p in pixels)
        pixels = [torch.nn.functional.pad(p, [0, 0, 0, 0, 0, 0, 0, most - p.shape[1]]) for p in pixels]
    return torch.cat(pixels)


def _left_pad(rows: list[torch.Tensor], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=rows[0].dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = row
        mask[i, width - len(row) :] = 1
    return {"input_ids": ids, "attention_mask": mask}
