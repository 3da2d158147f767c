"""How far input-space masking (`pixelshap_hf masking=input`, the default) is from masking the
image and then preprocessing it (`masking=image`, exact), on real COCO images and players:
the difference of the coalitions' `pixel_values` in normalised units, the share of elements
that differ, and the difference of the coalitions' log-probability values through the shipped
toy VLM (the value function the tasks use with `value=logprob`).

    python scripts/bench_input_masking.py [--docs 8] [--coalitions 24] [--fill black gray blur]

The COCO object-importance set is built from ../shared/data (or $PIXELSHAP_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from datasets import load_from_disk  # noqa: E402

from pixelshap_eval.data.coco import build_coco_set  # noqa: E402
from pixelshap_eval.hf_runner import HFRunner  # noqa: E402
from pixelshap_eval.images import to_rgb  # noqa: E402
from pixelshap_eval.input_space import CoalitionInput, InputSpaceEncoder, pixel_atoms  # noqa: E402
from pixelshap_eval.lmms.config import AttributionConfig  # noqa: E402
from pixelshap_eval.lmms.documents import doc_players, doc_to_text  # noqa: E402
from pixelshap_eval.lmms.scaling import model_size, scale_image  # noqa: E402
from pixelshap_eval.masking import Masker  # noqa: E402
from pixelshap_eval.toy import TOY_MODEL_DIR  # noqa: E402


def shared_data() -> Path:
    for candidate in (os.environ.get("PIXELSHAP_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data", "/work/shared/data"):
        if candidate and (Path(candidate) / "coco_tiny").is_dir():
            return Path(candidate)
    raise SystemExit("real data not found: set PIXELSHAP_SHARED_DATA to the folder holding coco_tiny/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=12, help="COCO images (each gives one or more questions)")
    parser.add_argument("--coalitions", type=int, default=24, help="random coalitions per document (plus empty and full)")
    parser.add_argument("--fill", nargs="+", default=["black", "gray", "blur"])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pixelshap-input-masking-"))
    coco = shared_data() / "coco_tiny"
    saved = build_coco_set(coco / "annotations" / "instances_val2017.json", coco / "val2017", limit=args.docs).save(work / "coco")
    data = load_from_disk(str(saved))
    rows = next(iter(data.values())) if hasattr(data, "values") else data
    runner = HFRunner.from_pretrained(TOY_MODEL_DIR, dtype="float32", device="cpu")
    settings = AttributionConfig(max_players=8)
    rng = np.random.default_rng(0)
    print(f"toy VLM ({type(runner.processor.image_processor).__name__}, resample {runner.processor.image_processor.resample}), "
          f"{min(args.docs, len(rows))} COCO questions, {args.coalitions} random coalitions + empty + full each, strategy bboa\n")
    print("| fill | pixel_values mean abs diff | max abs diff | elements differing | logprob value mean abs diff | max | value spread (std over coalitions) |")
    print("|---|---|---|---|---|---|---|")
    for fill in args.fill:
        masker = Masker(fill=fill)
        encoder = InputSpaceEncoder(runner.processor)
        pixel_diffs, differing, value_diffs, spreads = [], [], [], []
        for doc in rows.select(range(min(args.docs, len(rows)))):
            image = to_rgb(doc["image"])
            image = scale_image(image, model_size(*image.size, settings.max_image_side))
            regions = doc_players(doc, settings).regions
            coalitions = np.vstack([np.zeros((1, len(regions)), bool), np.ones((1, len(regions)), bool), rng.random((args.coalitions, len(regions))) < 0.5])
            atoms = pixel_atoms(image.size, regions, masker)
            prompt = runner.prompt(doc_to_text(doc))
            items = [CoalitionInput(doc["question_id"], image, atoms, hidden) for hidden in atoms.hidden(coalitions)]
            ours = encoder.encode([prompt] * len(items), items)
            theirs = dict(runner.processor(text=[prompt] * len(items), images=[masker.mask(image, regions, c) for c in coalitions], return_tensors="pt", padding=True))
            difference = (ours["pixel_values"] - theirs["pixel_values"]).abs()
            pixel_diffs.append((float(difference.mean()), float(difference.max())))
            differing.append(float((difference > 1e-6).float().mean()))
            answer = runner.generate([image], [doc_to_text(doc)], max_new_tokens=8)[0] or "yes"
            value_ours = np.array([s.logprob for s in runner.score_inputs(ours, [answer] * len(items))])
            value_theirs = np.array([s.logprob for s in runner.score_inputs(theirs, [answer] * len(items))])
            value_diffs.append(np.abs(value_ours - value_theirs))
            spreads.append(float(value_theirs.std()))
        values = np.concatenate(value_diffs)
        print(f"| {fill} | {np.mean([m for m, _ in pixel_diffs]):.4f} | {max(x for _, x in pixel_diffs):.3f} | {100 * np.mean(differing):.1f}% | "
              f"{values.mean():.4f} | {values.max():.4f} | {np.mean(spreads):.3f} |")


if __name__ == "__main__":
    main()
