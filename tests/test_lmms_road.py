"""ROAD follow-up tasks: plans, step images and random rankings in process; both tasks end to
end through the real `lmms-eval` command with the toy model on rankings written here (the
rankings file format is the faithfulness tasks', tested with them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasets import load_from_disk
from lmms_runs import run_lmms
from PIL import ImageFile

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.lmms.config import AttributionConfig
from pixelshap_eval.lmms.road import curves, road_steps
from pixelshap_eval.lmms.routing import CoalitionRef
from pixelshap_eval.metrics.road import LERF, MORF, removed_pixels
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

POINTS = 6
TOY = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32", "--batch_size", "32"]


def test_steps_and_curves_share_the_end_points() -> None:
    steps = road_steps(POINTS)
    assert len(steps) == 2 * POINTS - 2 and steps[0].fraction == 1.0 and steps[1].fraction == 0.0
    values = np.arange(len(steps), dtype=float)
    found = curves(steps, values)
    assert found[MORF].tolist() == [1, 2, 3, 4, 5, 0] and found[LERF].tolist() == [1, 6, 7, 8, 9, 0]


@pytest.fixture(scope="module")
def synth_dir(pixelshap_data_dir):
    """The data folder, holding one synthetic scene per question type (beside the other built sets)."""
    if not (pixelshap_data_dir / "synth").exists():
        build_synth_set(1, 0, toy_question_types()).save(pixelshap_data_dir / "synth")
    return pixelshap_data_dir


def _write_rankings(path, rankings: dict[str, list[int]]):
    path.write_text("".join(json.dumps({"pixelshap": {"question_id": key, "ranking": order}}) + "\n" for key, order in rankings.items()))
    return path


@pytest.fixture(scope="module")
def target_first(synth_dir, tmp_path_factory):
    """The true ranking of every synthetic scene: its target object first (what the toy model answers from)."""
    rows = load_from_disk(str(synth_dir / "synth"))["test"]
    rankings = {}
    for row in rows:
        others = [i for i in range(len(row["objects"])) if i != row["target_index"]]
        rankings[row["question_id"]] = [row["target_index"], *others]
    return _write_rankings(tmp_path_factory.mktemp("rankings") / "synth.jsonl", rankings)


def _road_task(monkeypatch, synth_dir, settings: str):
    # lmms-eval sets PIL's LOAD_TRUNCATED_IMAGES when imported; keep it from leaking into other tests
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", ImageFile.LOAD_TRUNCATED_IMAGES)
    import lmms_eval.models  # noqa: F401  (loads the model entry points, as the CLI does)
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(synth_dir))
    monkeypatch.setenv("PIXELSHAP_CONFIG", settings)
    (task,) = get_task_dict(["pixelshap_synth_road"], TaskManager()).values()
    return task


def _plan(task, doc_id: int):
    requests = task.construct_requests(doc_id, "q", metadata={"task": "pixelshap_synth_road", "doc_id": doc_id, "repeats": 1, "split": "test"})
    key = str(task.dataset_no_image["test"][doc_id]["question_id"])
    return key, task._plan(key, len(task.players("test", doc_id).regions)), requests


def test_random_ranking_is_seeded_and_not_the_given_one(monkeypatch, synth_dir, target_first):
    given = json.loads(target_first.read_text().splitlines()[0])["pixelshap"]["ranking"]
    orders = []
    for seed in (0, 1):
        task = _road_task(monkeypatch, synth_dir, f"rankings={target_first},road_ranking=random,seed={seed}")
        orders.append([_plan(task, doc_id)[1].design.order.tolist() for doc_id in range(len(task.dataset_no_image["test"]))])
    assert orders[0] != orders[1]
    assert all(sorted(order) == list(range(len(order))) for order in orders[0])
    assert any(order != given for order in orders[0])


def test_a_step_image_imputes_exactly_the_removed_pixels(monkeypatch, synth_dir, target_first):
    task = _road_task(monkeypatch, synth_dir, f"rankings={target_first},road_points={POINTS},road_noise=0")
    key, plan, requests = _plan(task, 0)
    assert len(requests) == len(plan) == 2 * POINTS - 2
    original = np.asarray(task.image("test", 0))
    target = task.players("test", 0).regions[plan.design.order[0]].mask
    for row, step in enumerate(plan.design.steps):
        image = np.asarray(task.masked_image(CoalitionRef("test", 0, row)))
        removed = removed_pixels(task.pixel_order(key, plan.design.order), original.shape[:2], step.fraction, step.direction)
        assert removed.sum() == round(step.fraction * removed.size)
        assert np.array_equal(image[~removed], original[~removed])
        if step.direction == MORF and 0 < step.fraction < 1:
            assert removed[target].all()  # the top player's pixels go first (it is under 20% of the scene)
        # the players a step leaves untouched are the coalition the plan's mask names
        untouched = [not removed[region.mask].any() for region in task.players("test", 0).regions]
        assert plan.masks[row].tolist() == untouched


@pytest.mark.e2e
def test_road_tasks_through_lmms_eval(synth_dir, target_first, human_set_dir, tmp_path):
    """One run of both ROAD tasks: the synthetic scenes' true rankings and the human set's given
    rankings; each request is one ROAD step's imputed image."""
    human_rows = load_from_disk(str(human_set_dir))["test"].select(range(2))
    rng = np.random.default_rng(0)
    human = _write_rankings(tmp_path / "human.jsonl", {key: rng.permutation(144).tolist() for key in human_rows["question_id"]})
    settings = (
        f"heatmaps=false,road_points={POINTS},pixelshap_synth_road.rankings={target_first},"
        f"pixelshap_human_road.rankings={human},pixelshap_human_road.road_points=3"
    )
    env = {"PIXELSHAP_DATA_DIR": str(synth_dir), "PIXELSHAP_CONFIG": settings}
    run = run_lmms([*TOY, "--tasks", "pixelshap_synth_road,pixelshap_human_road"], tmp_path / "run", env)
    synth_rows = run.samples["pixelshap_synth_road"]
    assert {row["pixelshap"]["question_id"] for row in synth_rows} == {
        json.loads(line)["pixelshap"]["question_id"] for line in target_first.read_text().splitlines()
    }
    for row in synth_rows:
        record = row["pixelshap"]
        # one similarity request per ROAD step: the full image, 100% removed, the inner points of both curves
        assert len(row["filtered_resps"]) == record["n_calls"] == len(record["coalition_values"]) == 2 * POINTS - 2
        assert len(record["morf_curve"]) == len(record["lerf_curve"]) == POINTS
        assert record["morf_curve"][0] == 1.0  # the full image's answer is the answer compared with
    for name in ("road_morf_auc", "road_lerf_auc"):
        assert 0.0 <= run.metric("pixelshap_synth_road", name) <= 1.0
    # the toy model answers from its target object: removing it first hurts most
    assert run.metric("pixelshap_synth_road", "road_morf_auc") < run.metric("pixelshap_synth_road", "road_lerf_auc")
    assert run.metric("pixelshap_synth_road", "documents_scored") == len(synth_rows)
    for row in run.samples["pixelshap_human_road"]:
        record = row["pixelshap"]
        # the full-image answer, then one log-probability of "Yes" per ROAD step
        assert len(row["filtered_resps"]) == 1 + record["n_calls"] and record["n_calls"] == 2 * 3 - 2
        assert max(record["coalition_values"]) <= 0.0
    assert run.metric("pixelshap_human_road", "documents_scored") == 2
    for name in ("road_morf_auc", "road_lerf_auc"):
        assert np.isfinite(run.metric("pixelshap_human_road", name))


@pytest.mark.parametrize(
    ("option", "message"),
    [({"road_points": 1}, "road_points must be >= 2"), ({"road_noise": -0.1}, "road_noise must be"), ({"road_ranking": "best"}, "road_ranking")],
)
def test_bad_road_options_are_refused(option, message):
    with pytest.raises(ValueError, match=message):
        AttributionConfig(**option)
