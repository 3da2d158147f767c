"""The COCO object-importance builder, its card and CLI, optional chat-model questions, and
dataset location, on the real coco_tiny slice."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from datasets import DatasetDict, Image, load_from_disk
from huggingface_hub import DatasetCard
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from pixelshap_eval import cli
from pixelshap_eval.data import locate
from pixelshap_eval.data.coco import (
    DEFAULT_TEMPLATES,
    GENERATED,
    QUESTION_TEMPLATES,
    CocoSelection,
    build_coco_set,
    template_question,
)
from pixelshap_eval.data.openai_questions import (
    ChatEndpoint,
    ChatQuestionWriter,
    MissingAPIKeyError,
    QuestionGenerationError,
)
from pixelshap_eval.data.schema import OBJECT_IMPORTANCE_FEATURES, decode_mask, object_regions


@pytest.fixture(scope="module")
def coco_tiny(shared_data: Path) -> tuple[Path, Path]:
    folder = shared_data / "coco_tiny"
    return folder / "annotations" / "instances_val2017.json", folder / "val2017"


@pytest.fixture(scope="module")
def reference(coco_tiny: tuple[Path, Path]) -> COCO:
    """pycocotools' own index of the source file: an independent reading of the annotations."""
    return COCO(str(coco_tiny[0]))


@pytest.fixture(scope="module")
def usable_ids(coco_rows) -> list[int]:
    """Ids of images with at least one valid target, in file order."""
    return list(dict.fromkeys(coco_rows["image_id"]))


def _subset(annotations: Path, image_ids: list[int]) -> dict:
    """Those images of a COCO file, their annotations and all categories."""
    data = json.loads(annotations.read_text())
    images = [image for image in data["images"] if image["id"] in image_ids]
    ids = {image["id"] for image in images}
    return {
        "images": images,
        "annotations": [a for a in data["annotations"] if a["image_id"] in ids],
        "categories": data["categories"],
    }


def _write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "instances_custom.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> int:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("build", "baselines"))
    return cli.main(argv)


# --- the built set --------------------------------------------------------------------------


def test_counts_match_an_independent_reading_of_the_rules(coco_rows, reference):
    selection = CocoSelection()
    expected_rows, expected_images = 0, 0
    for image_id, image in reference.imgs.items():
        annotations = reference.loadAnns(reference.getAnnIds(imgIds=image_id, iscrowd=None))
        per_category = Counter(a["category_id"] for a in annotations)
        min_area = selection.min_area_fraction * image["width"] * image["height"]
        valid = [
            a
            for a in annotations
            if not a["iscrowd"] and per_category[a["category_id"]] == 1 and reference.annToMask(a).sum() >= min_area
        ]
        expected_rows += min(len(valid), selection.max_questions_per_image)
        expected_images += bool(valid)
    assert coco_rows.num_rows == expected_rows
    assert len(set(coco_rows["image_id"])) == expected_images
    assert len(set(coco_rows["question_id"])) == coco_rows.num_rows


def test_round_trip_keeps_features_split_and_card(coco_set_dir, coco_rows):
    reloaded = load_from_disk(str(coco_set_dir))
    assert list(reloaded) == ["test"]
    assert reloaded["test"].features == OBJECT_IMPORTANCE_FEATURES
    assert set(coco_rows["source"]) == {"coco/val2017"}
    card = (coco_set_dir / "README.md").read_text()
    assert card.startswith("---\n") and "CC BY 4.0" in card
    assert f"| rows | {coco_rows.num_rows} |" in card
    assert "1.0% of the image" in card


def test_every_target_is_a_valid_annotation_with_its_mask_inside_its_box(coco_rows, reference):
    for row in coco_rows.select_columns(["image_id", "width", "height", "target", "target_index", "objects"]):
        target = row["target"]
        assert row["objects"][row["target_index"]] == target
        annotation = reference.anns[target["id"]]
        assert annotation["image_id"] == row["image_id"] and not annotation["iscrowd"]
        same_category = reference.getAnnIds(imgIds=row["image_id"], catIds=[annotation["category_id"]], iscrowd=None)
        assert same_category == [target["id"]]
        mask = decode_mask(target["mask_rle"], row["height"], row["width"])
        assert np.array_equal(mask, reference.annToMask(annotation).astype(bool))
        assert mask.sum() == target["area"] >= 0.01 * row["width"] * row["height"]
        x, y, w, h = target["box"]
        inside = np.zeros_like(mask)
        inside[int(np.floor(y)) : int(np.ceil(y + h)), int(np.floor(x)) : int(np.ceil(x + w))] = True
        assert not (mask & ~inside).any(), f"target {target['id']} leaves its box"


def test_players_are_every_non_crowd_annotation_in_file_order(coco_rows, reference):
    row = coco_rows[0]
    expected = reference.getAnnIds(imgIds=row["image_id"], iscrowd=False)
    assert [obj["id"] for obj in row["objects"]] == expected
    regions = object_regions(row)
    assert [region.id for region in regions] == expected
    assert all(region.size == (row["width"], row["height"]) for region in regions)


def test_questions_name_the_target_and_never_count(coco_rows):
    for row in coco_rows.select_columns(["question", "question_type", "target"]):
        assert row["target"]["category"] in row["question"]
        assert row["question"].endswith("?")
        assert not re.search(r"\bhow many\b|\d", row["question"], re.IGNORECASE)
        kinds = {kind for kind, _ in QUESTION_TEMPLATES.get(row["target"]["supercategory"], DEFAULT_TEMPLATES)}
        assert row["question_type"] in kinds


def test_images_are_the_original_files(coco_rows, coco_tiny):
    row = coco_rows[0]
    assert row["image"].size == (row["width"], row["height"])
    raw = coco_rows.cast_column("image", Image(decode=False))[0]["image"]
    assert raw["bytes"] == (coco_tiny[1] / f"{row['image_id']:012d}.jpg").read_bytes()


@settings(deadline=None, max_examples=40)
@given(
    supercategory=st.sampled_from([*QUESTION_TEMPLATES, "unlisted"]),
    name=st.text(alphabet="abcdefghij ", min_size=1, max_size=12).map(str.strip).filter(bool),
    seed=st.integers(0, 2**32 - 1),
)
def test_template_questions_name_the_object_and_are_seeded(supercategory, name, seed):
    question, kind = template_question(name, supercategory, np.random.default_rng(seed))
    assert name in question and question.endswith("?")
    assert (question, kind) == template_question(name, supercategory, np.random.default_rng(seed))
    assert kind in {k for k, _ in QUESTION_TEMPLATES.get(supercategory, DEFAULT_TEMPLATES)}


def test_same_seed_same_rows_and_limit_keeps_a_prefix(coco_tiny, coco_rows):
    first = build_coco_set(*coco_tiny, limit=12).dataset["test"]
    again = build_coco_set(*coco_tiny, limit=12).dataset["test"]
    assert first["question_id"] == again["question_id"] and first["question"] == again["question"]
    assert first["question_id"] == coco_rows["question_id"][: first.num_rows]
    other_seed = build_coco_set(*coco_tiny, CocoSelection(seed=7), limit=12).dataset["test"]
    assert (other_seed["question_id"], other_seed["question"]) != (first["question_id"], first["question"])


def test_cap_and_min_area_are_applied(coco_tiny):
    capped = build_coco_set(*coco_tiny, CocoSelection(max_questions_per_image=1, min_area_fraction=0.2), limit=20)
    rows = capped.dataset["test"]
    assert max(Counter(rows["image_id"]).values()) == 1
    assert all(t["area"] >= 0.2 * w * h for t, w, h in zip(rows["target"], rows["width"], rows["height"]))
    stats = capped.stats
    assert (
        stats["images with questions"] + stats["images skipped (no valid target)"] == stats["images considered"] == 20
    )


def test_card_metadata_parses_and_licences_come_from_the_source_file_when_present(tmp_path, coco_tiny, usable_ids):
    data = _subset(coco_tiny[0], usable_ids[:1])
    license_id = data["images"][0]["license"]
    data["licenses"] = [{"id": license_id, "name": "Example Licence 9", "url": "http://example.org/licence-9"}]
    card = build_coco_set(_write(tmp_path, data), coco_tiny[1]).card
    assert "the source file's `licenses` list" in card
    assert f"- {license_id}: [Example Licence 9](http://example.org/licence-9)" in card
    metadata = DatasetCard(card).data
    assert metadata.license == "other" and metadata.task_categories == ["visual-question-answering"]
    assert metadata.configs[0]["data_files"][0]["split"] == "test"


# --- bad input ------------------------------------------------------------------------------


def test_images_without_a_valid_target_are_skipped_and_counted(tmp_path, coco_tiny, usable_ids):
    data = _subset(coco_tiny[0], usable_ids[:2])
    skipped_image = data["images"][1]["id"]
    for annotation in data["annotations"]:
        if annotation["image_id"] == skipped_image:
            annotation["iscrowd"] = 1  # crowd annotations are never targets
    built = build_coco_set(_write(tmp_path, data), coco_tiny[1], split="val2017")
    assert built.stats["images skipped (no valid target)"] == 1
    assert set(built.dataset["test"]["image_id"]) == {data["images"][0]["id"]}
    assert "| images skipped (no valid target) | 1 |" in built.card


def test_no_valid_target_at_all_is_an_error(tmp_path, coco_tiny, usable_ids):
    data = _subset(coco_tiny[0], usable_ids[:1])
    with pytest.raises(ValueError, match="no image .* has a valid target"):
        build_coco_set(_write(tmp_path, data), coco_tiny[1], CocoSelection(min_area_fraction=0.99))


def test_missing_image_file_names_the_file(tmp_path, coco_tiny, usable_ids):
    data = _subset(coco_tiny[0], usable_ids[:3])
    data["images"][1]["file_name"] = "000000999999.jpg"
    with pytest.raises(FileNotFoundError, match="000000999999.jpg"):
        build_coco_set(_write(tmp_path, data), coco_tiny[1])


def test_broken_json_is_one_clear_error(tmp_path, coco_tiny, usable_ids):
    text = json.dumps(_subset(coco_tiny[0], usable_ids[:1]))[:-20]
    with pytest.raises(ValueError, match="is not valid JSON"):
        build_coco_set(_write(tmp_path, text), coco_tiny[1])


def test_unknown_category_id_names_it(tmp_path, coco_tiny, usable_ids):
    data = _subset(coco_tiny[0], usable_ids[:1])
    data["annotations"][0]["category_id"] = 4242
    with pytest.raises(ValueError, match=r"category_id 4242.*not among the file's categories"):
        build_coco_set(_write(tmp_path, data), coco_tiny[1])


def test_not_a_coco_file_and_wrong_folders(tmp_path, coco_tiny):
    with pytest.raises(ValueError, match="no list"):
        build_coco_set(_write(tmp_path, {"images": []}), coco_tiny[1])
    with pytest.raises(FileNotFoundError, match="annotations file not found"):
        build_coco_set(tmp_path / "absent.json", coco_tiny[1])
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        build_coco_set(coco_tiny[0], tmp_path / "absent")


def test_images_of_another_size_are_rejected(tmp_path, coco_tiny, usable_ids):
    data = _subset(coco_tiny[0], usable_ids[:1])
    data["images"][0]["width"] += 1
    with pytest.raises(ValueError, match="does not match the annotations file"):
        build_coco_set(_write(tmp_path, data), coco_tiny[1])


# --- CLI ------------------------------------------------------------------------------------


def test_cli_builds_refuses_to_clobber_and_overwrites(tmp_path, coco_tiny, monkeypatch, capsys):
    out = tmp_path / "coco"
    argv = [
        "build",
        "coco",
        "--annotations",
        str(coco_tiny[0]),
        "--images",
        str(coco_tiny[1]),
        "--limit",
        "4",
        "--out",
        str(out),
    ]
    assert _run_cli(monkeypatch, argv) == 0
    rows = load_from_disk(str(out))["test"]
    assert "built coco:" in capsys.readouterr().out and rows.num_rows >= 1
    assert _run_cli(monkeypatch, argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _run_cli(monkeypatch, [*argv, "--overwrite", "--max-questions-per-image", "1"]) == 0
    assert load_from_disk(str(out))["test"].num_rows <= 4


def test_overwrite_never_deletes_a_folder_that_is_not_a_built_set(tmp_path, coco_tiny, monkeypatch, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    argv = ["build", "coco", "--annotations", str(coco_tiny[0]), "--images", str(coco_tiny[1]), "--limit", "4"]
    assert _run_cli(monkeypatch, [*argv, "--out", str(out), "--overwrite"]) == 2
    assert "not hold a saved dataset" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_push_to_hub_uploads_the_set_then_its_card(tmp_path, coco_tiny, monkeypatch):
    calls = []
    monkeypatch.setattr(DatasetDict, "push_to_hub", lambda self, repo_id, **options: calls.append(("data", repo_id)))
    monkeypatch.setattr(DatasetCard, "push_to_hub", lambda self, repo_id: calls.append(("card", repo_id)))
    argv = ["build", "coco", "--annotations", str(coco_tiny[0]), "--images", str(coco_tiny[1]), "--limit", "4"]
    assert _run_cli(monkeypatch, [*argv, "--out", str(tmp_path / "out"), "--push-to-hub", "someone/coco-test"]) == 0
    assert calls == [("data", "someone/coco-test"), ("card", "someone/coco-test")]


# --- questions from an OpenAI-compatible endpoint -----------------------------------------------


class _StubChat(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions with a question about the target named in the prompt."""

    requests: ClassVar[list[dict]] = []
    fail: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if type(self).fail:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"overloaded")
            return
        text = body["messages"][1]["content"][0]["text"]
        target = re.search(r"question about the (.+?) \(box", text).group(1)
        reply = {"choices": [{"message": {"role": "assistant", "content": f" What is the {target} resting on?\n"}}]}
        payload = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        return


@pytest.fixture()
def stub_endpoint(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    _StubChat.requests, _StubChat.fail = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubChat)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield ChatEndpoint(model="stub-vlm", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", timeout_s=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_chat_questions_need_a_key(monkeypatch, coco_tiny, tmp_path, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match=r"\$OPENAI_API_KEY"):
        ChatQuestionWriter(ChatEndpoint())
    argv = [
        "build",
        "coco",
        "--annotations",
        str(coco_tiny[0]),
        "--images",
        str(coco_tiny[1]),
        "--limit",
        "2",
        "--openai-questions",
        "--out",
        str(tmp_path / "out"),
    ]
    assert _run_cli(monkeypatch, argv) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_chat_questions_from_a_local_endpoint(stub_endpoint, coco_tiny):
    writer = ChatQuestionWriter(stub_endpoint, environ={"OPENAI_API_KEY": "sk-test"})
    rows = build_coco_set(*coco_tiny, limit=3, question_writer=writer).dataset["test"]
    assert rows.num_rows == len(_StubChat.requests) >= 1
    assert set(rows["question_type"]) == {GENERATED}
    for row, request in zip(rows.select_columns(["question", "target"]), _StubChat.requests):
        assert row["question"] == f"What is the {row['target']['category']} resting on?"
        assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
        assert request["body"]["model"] == "stub-vlm" and request["body"]["temperature"] == 0
        assert request["body"]["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_chat_endpoint_failure_is_reported(stub_endpoint, coco_tiny):
    _StubChat.fail = True
    writer = ChatQuestionWriter(stub_endpoint, environ={"OPENAI_API_KEY": "sk-test"})
    with pytest.raises(QuestionGenerationError, match="HTTP 500: overloaded"):
        build_coco_set(*coco_tiny, limit=3, question_writer=writer)


# --- dataset location -----------------------------------------------------------------------


def test_locate_prefers_the_built_folder(monkeypatch, pixelshap_data_dir, coco_set_dir, coco_rows):
    monkeypatch.setenv(locate.DATA_DIR_ENV, str(pixelshap_data_dir))
    assert locate.dataset_dir("coco") == coco_set_dir
    loaded = locate.load_pixelshap_dataset("coco", locate.DEFAULT_HUB_IDS["coco"])
    assert loaded["test"]["question_id"] == coco_rows["question_id"]


def test_locate_without_data_names_the_build_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv(locate.DATA_DIR_ENV, raising=False)
    assert locate.dataset_dir("human") is None
    with pytest.raises(
        locate.DatasetUnavailableError,
        match=r"pixelshap-eval build human --annotations .* --out \$PIXELSHAP_DATA_DIR/human",
    ):
        locate.load_pixelshap_dataset("human")
    monkeypatch.setenv(locate.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(locate.DatasetUnavailableError, match="could not be loaded") as error:
        locate.load_pixelshap_dataset("coco", "pixelshap-eval/coco-object-importance")
    assert "pixelshap-eval build coco" in str(error.value) and str(tmp_path / "coco") in str(error.value)


def test_locate_rejects_a_folder_that_is_not_a_saved_set(monkeypatch, tmp_path):
    (tmp_path / "synth").mkdir()
    monkeypatch.setenv(locate.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(locate.DatasetUnavailableError, match="does not hold a saved dataset"):
        locate.load_pixelshap_dataset("synth")
