"""A small set of real photos that ship inside installed packages, for the offline demo.

scikit-image's `astronaut`, `coffee` and `chelsea` and scikit-learn's `china.jpg` need no
download, so the demo can show attributions on real images on a fresh machine. The photos carry
no object annotations: the `pixelshap_photos` task lays a grid of players over them, and there is
no target, so the rows are scored by faithfulness (similarity drop, deletion/insertion) only.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from datasets import Dataset, DatasetDict
from PIL import Image

from pixelshap_eval.data.cards import EVALUATION_SPLIT, BuiltSet, CardText, render_card
from pixelshap_eval.data.schema import OBJECT_IMPORTANCE_FEATURES
from pixelshap_eval.images import to_rgb

DEFAULT_QUESTION = "What color is the object?"
NO_TARGET = {"id": -1, "category": "", "supercategory": "", "box": [0.0, 0.0, 0.0, 0.0], "mask_rle": "", "area": 0.0}


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


# name -> (loader, source package, licence note)
PHOTOS: dict[str, tuple[Callable[[], np.ndarray], str, str]] = {
    "astronaut": (_skimage("astronaut"), "scikit-image", "Eileen Collins, NASA Great Images database; public domain"),
    "coffee": (_skimage("coffee"), "scikit-image", "courtesy of Pikolo Espresso Bar; CC0 by the photographer (Rachel Michetti)"),
    "chelsea": (_skimage("chelsea"), "scikit-image", "Chelsea the cat; CC0 by the photographer (Stefan van der Walt)"),
    "china": (_sklearn("china.jpg"), "scikit-learn", "CC BY 2.0, some rights reserved by danielbuechele (Flickr)"),
}


def build_photos_set(names: tuple[str, ...] = tuple(PHOTOS), question: str = DEFAULT_QUESTION) -> BuiltSet:
    """One row per photo in the object-importance format, with no objects and no target."""
    unknown = [n for n in names if n not in PHOTOS]
    if unknown or not names:
        raise ValueError(f"unknown or no photos {unknown or list(names)}; choose from {sorted(PHOTOS)}")
    rows = []
    for index, name in enumerate(names):
        loader, package, _ = PHOTOS[name]
        image = to_rgb(Image.fromarray(np.asarray(loader(), dtype=np.uint8)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        rows.append(
            {
                "question_id": f"photo-{name}",
                "image": {"bytes": buffer.getvalue(), "path": f"{name}.png"},
                "image_id": index,
                "width": image.width,
                "height": image.height,
                "question": question,
                "question_type": "photo",
                "answer": "",
                "target_index": -1,
                "target": NO_TARGET,
                "objects": [],
                "source": f"{package}:{name}",
                "license": 0,
            }
        )
    dataset = DatasetDict({EVALUATION_SPLIT: Dataset.from_list(rows, features=OBJECT_IMPORTANCE_FEATURES)})
    stats = {"rows": len(rows)}
    return BuiltSet(name="photos", dataset=dataset, card=render_card(_card_text(names), OBJECT_IMPORTANCE_FEATURES, stats), stats=stats)


def _card_text(names: tuple[str, ...]) -> CardText:
    credits = "\n".join(f"- `{n}` ({PHOTOS[n][1]}): {PHOTOS[n][2]}" for n in names)
    return CardText(
        pretty_name="PixelSHAP demo photos",
        license="other",
        summary="Real photos that ship inside scikit-image and scikit-learn, each with one question, for the offline demo.",
        provenance="Built by `pixelshap-eval build photos` from the sample images of installed packages (no download).",
        licences=credits,
        selection="Every listed photo, converted to RGB and stored as PNG. No objects are annotated: `objects` is empty "
        "and there is no target (`target_index` is -1 and the target's fields are empty).",
        fields={"question": "asked of every photo", "objects": "empty: players are grid cells laid by the task"},
    )

