"""Built datasets shared by the whole test session (register with `pytest_plugins`).

Each set is built once from the real data under `shared_data` into one session folder laid
out as `$PIXELSHAP_DATA_DIR` expects (`<dir>/coco`, `<dir>/human`):

- `coco_set_dir`: the COCO object-importance set of coco_tiny val2017 (all 80 images);
- `human_set_dir`: the first `HUMAN_FIXTURE_ROWS` rows of the Patchwise human set;
- `pixelshap_data_dir`: their parent, a value for $PIXELSHAP_DATA_DIR;
- `coco_rows`, `human_rows`: the saved `test` splits, loaded back with `load_from_disk`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset, load_from_disk

from pixelshap_eval.data.cards import EVALUATION_SPLIT
from pixelshap_eval.data.coco import build_coco_set
from pixelshap_eval.data.human import build_human_set

HUMAN_FIXTURE_ROWS = 60


@pytest.fixture(scope="session")
def pixelshap_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pixelshap-data")


@pytest.fixture(scope="session")
def coco_set_dir(shared_data: Path, pixelshap_data_dir: Path) -> Path:
    coco = shared_data / "coco_tiny"
    built = build_coco_set(coco / "annotations" / "instances_val2017.json", coco / "val2017")
    return built.save(pixelshap_data_dir / "coco")


@pytest.fixture(scope="session")
def human_set_dir(shared_data: Path, pixelshap_data_dir: Path) -> Path:
    human = shared_data / "patchwise_human"
    built = build_human_set(human / "Human_Annotations.txt", human / "images", limit=HUMAN_FIXTURE_ROWS)
    return built.save(pixelshap_data_dir / "human")


@pytest.fixture(scope="session")
def coco_rows(coco_set_dir: Path) -> Dataset:
    return load_from_disk(str(coco_set_dir))[EVALUATION_SPLIT]


@pytest.fixture(scope="session")
def human_rows(human_set_dir: Path) -> Dataset:
    return load_from_disk(str(human_set_dir))[EVALUATION_SPLIT]
