"""Metrics and baselines: hand-computed examples, tie and degenerate cases, properties, and
the model-free baselines on the real human-patch set."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pixelshap_eval.metrics import (
    attribution_map,
    center_prior_scores,
    central_object_scores,
    curve_auc,
    deletion_auc,
    deletion_coalitions,
    human_patch_scores,
    insertion_auc,
    insertion_coalitions,
    iou_at_1,
    largest_object_scores,
    map_plausibility,
    pointing_game,
    random_scores,
    ranking,
    recall_at_k,
    similarity_drop,
)
from pixelshap_eval.metrics.scores import as_scores, merge_ties, tie_tolerance, top_k_probability
from pixelshap_eval.players import Region, box_of_mask, grid_regions


def region(label: str, mask: np.ndarray) -> Region:
    return Region(label=label, mask=mask, box=box_of_mask(mask))


# Small scores with many ties: the interesting case for the tie convention.
tied_values = st.lists(st.integers(0, 3), min_size=1, max_size=6).map(lambda v: np.array(v, dtype=float))


def brute_force_mean(values: np.ndarray, score_of_order) -> float:
    """Average of score_of_order(order) over every tie-breaking of `values` (every
    permutation used as the tie-breaker, so each tie order is equally likely)."""
    n = values.size
    scores = []
    for breaker in itertools.permutations(range(n)):
        order = sorted(range(n), key=lambda i: (-values[i], breaker[i]))
        scores.append(score_of_order(order))
    return float(np.mean(scores))


# ---------------------------------------------------------------------------------------------
# ranking and recall@k


def test_ranking_puts_highest_first_and_breaks_ties_by_index():
    assert ranking([0.2, 0.9, 0.2, 0.5]).tolist() == [1, 3, 0, 2]


def test_recall_at_k_hand_computed():
    values = [0.1, 0.5, 0.3, 0.5]  # players 1 and 3 tie for the top
    assert recall_at_k(values, 1, k=1) == 0.5  # one of two tied top players
    assert recall_at_k(values, [1, 3], k=1) == 1.0  # either target counts
    assert recall_at_k(values, 2, k=2) == 0.0  # ranks 1-2 are players 1 and 3
    assert recall_at_k(values, 2, k=3) == 1.0
    assert recall_at_k(values, 0, k=3) == 0.0
    assert recall_at_k(values, 0, k=4) == 1.0  # k >= n
    # three-way tie for 2 places, one target among them: 1 - C(2,2)/C(3,2) = 2/3
    assert recall_at_k([1, 1, 1, 0], 0, k=2) == pytest.approx(2 / 3)
    # same tie, two targets: 1 - C(1,2)/C(3,2) = 1
    assert recall_at_k([1, 1, 1, 0], [0, 1], k=2) == 1.0


def test_recall_degenerate_cases():
    assert recall_at_k([0.7], 0, k=1) == 1.0  # one player
    assert recall_at_k([2.0] * 5, 3, k=1) == pytest.approx(1 / 5)  # all equal: chance
    assert math.isnan(recall_at_k([0.1, 0.2], [], k=1))  # no target
    with pytest.raises(ValueError, match="not a player"):
        recall_at_k([0.1, 0.2], 2, k=1)
    with pytest.raises(ValueError, match="not a player"):
        recall_at_k([0.1, 0.2], -1, k=1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recall_at_k([0.1, 0.2], 0, k=0)
    with pytest.raises(ValueError, match="1-D"):
        recall_at_k(np.zeros((2, 2)), 0, k=1)
    with pytest.raises(ValueError, match="NaN"):
        recall_at_k([0.1, float("nan")], 0, k=1)
    with pytest.raises(ValueError, match="empty"):
        recall_at_k([], 0, k=1)


@settings(deadline=None, max_examples=60)
@given(values=tied_values, data=st.data())
def test_recall_is_the_expectation_over_tie_breaking(values, data):
    n = values.size
    targets = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    k = data.draw(st.integers(1, n))
    expected = brute_force_mean(values, lambda order: float(bool(set(order[:k]) & set(targets))))
    assert recall_at_k(values, targets, k) == pytest.approx(expected)


@settings(deadline=None, max_examples=60)
@given(values=tied_values, data=st.data())
def test_recall_is_monotone_in_k_and_one_at_n(values, data):
    n = values.size
    target = data.draw(st.integers(0, n - 1))
    recalls = [recall_at_k(values, target, k) for k in range(1, n + 1)]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(recalls))
    assert recalls[-1] == 1.0


@settings(deadline=None, max_examples=20)
@given(n=st.integers(1, 30), value=st.floats(-5, 5))
def test_recall_at_1_of_all_tied_is_one_over_n(n, value):
    values = np.full(n, value)
    assert np.mean([recall_at_k(values, t, 1) for t in range(n)]) == pytest.approx(1 / n)


@settings(deadline=None, max_examples=60)
@given(values=tied_values, data=st.data())
def test_recall_is_invariant_to_relabelling_players(values, data):
    n = values.size
    perm = np.array(data.draw(st.permutations(range(n))))
    targets = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    k = data.draw(st.integers(1, n))
    relabelled = np.empty(n)
    relabelled[perm] = values  # player i is now called perm[i]
    assert recall_at_k(relabelled, perm[targets], k) == pytest.approx(recall_at_k(values, targets, k))


# ---------------------------------------------------------------------------------------------
# IoU@1 and similarity drop


def test_iou_at_1_hand_computed_and_averaged_over_tied_top():
    left = np.zeros((4, 4), bool)
    left[:, :2] = True  # 8 px, box (0, 0, 2, 4)
    corner = np.zeros((4, 4), bool)
    corner[:2, :2] = True  # 4 px, box (0, 0, 2, 2)
    top = np.zeros((4, 4), bool)
    top[:2, :] = True  # 8 px, box (0, 0, 4, 2)
    regions = [region("left", left), region("corner", corner), region("top", top)]
    # left vs top: masks 4 / 12, boxes 4 / 12; corner vs top: masks 4 / 8, boxes 4 / 8
    assert iou_at_1([1.0, 0.0, 0.5], regions, regions[2]) == pytest.approx((1 / 3, 1 / 3))
    assert iou_at_1([0.0, 1.0, 0.5], regions, 2) == pytest.approx((1 / 2, 1 / 2))
    assert iou_at_1([1.0, 1.0, 0.5], regions, 2) == pytest.approx((5 / 12, 5 / 12))  # tie: mean
    assert iou_at_1([0.0, 0.0, 1.0], regions, 2) == (1.0, 1.0)


def test_iou_at_1_rejects_mismatched_inputs():
    regions = grid_regions((4, 4), 2, 2)
    with pytest.raises(ValueError, match="one value per region"):
        iou_at_1([1.0, 0.0], regions, 0)
    other = region("elsewhere", np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="same image"):
        iou_at_1([1.0, 0.0, 0.0, 0.0], regions, other)


def test_similarity_drop_hand_computed():
    # top players 0 and 2 (tied): mean v(N \ i) = (0.2 + 0.5) / 2 = 0.35; drop = 0.9 - 0.35
    assert similarity_drop(0.9, [0.2, 0.8, 0.5], [3.0, 1.0, 3.0]) == pytest.approx(0.55)
    assert similarity_drop(0.9, [0.2, 0.8, 0.5], [1.0, 3.0, 2.0]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one per player"):
        similarity_drop(0.9, [0.2, 0.8], [1.0, 3.0, 2.0])


# ---------------------------------------------------------------------------------------------
# deletion / insertion


def test_deletion_and_insertion_coalitions_follow_the_order():
    assert deletion_coalitions([2, 0, 1]).astype(int).tolist() == [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert insertion_coalitions([2, 0, 1]).astype(int).tolist() == [[0, 0, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1]]
    with pytest.raises(ValueError, match="permutation"):
        deletion_coalitions([0, 0, 1])
    with pytest.raises(ValueError, match="permutation"):
        insertion_coalitions([1, 2])


def test_curve_auc_hand_computed():
    # x = 0, 1/2, 1; y = 1, 0.4, 0 -> 1/2 * (1 + 0.4) / 2 + 1/2 * (0.4 + 0) / 2 = 0.45
    assert curve_auc([1.0, 0.4, 0.0], value_full=1.0, value_empty=0.0) == pytest.approx(0.45)
    # the same curve on another scale normalises to the same area
    assert curve_auc([3.0, 1.8, 1.0], value_full=3.0, value_empty=1.0) == pytest.approx(0.45)
    assert math.isnan(curve_auc([0.5, 0.7, 0.5], value_full=0.5, value_empty=0.5))  # v(N) == v(empty)
    with pytest.raises(ValueError, match="at least 2 points"):
        curve_auc([1.0], 1.0, 0.0)


def test_deletion_and_insertion_auc_of_an_additive_game():
    weights = np.array([0.5, 0.3, 0.2])

    def value_of(mask):
        return float(weights[mask].sum())

    # deletion curve 1, .5, .2, 0 -> (1/3) * (.75 + .35 + .1) = 0.4; insertion 0, .5, .8, 1 -> 0.6
    assert deletion_auc([0, 1, 2], value_of) == pytest.approx(0.4)
    assert insertion_auc([0, 1, 2], value_of) == pytest.approx(0.6)
    # the worst order deletes the least important first
    assert deletion_auc([2, 1, 0], value_of) > deletion_auc([0, 1, 2], value_of)


@settings(deadline=None, max_examples=50)
@given(steps=st.lists(st.floats(0, 10), min_size=1, max_size=12), start=st.floats(-5, 5))
def test_auc_of_a_monotone_curve_lies_in_unit_interval(steps, start):
    falling = start + sum(steps) - np.concatenate([[0.0], np.cumsum(steps)])  # v(N) down to v(empty)
    assume(falling[0] > falling[-1])  # v(N) == v(empty) is the degenerate, nan case
    auc = curve_auc(falling, value_full=falling[0], value_empty=falling[-1])
    assert -1e-9 <= auc <= 1 + 1e-9
    rising = falling[::-1]  # the mirror image in x encloses the same normalised area
    assert curve_auc(rising, value_full=rising[-1], value_empty=rising[0]) == pytest.approx(auc)


@settings(deadline=None, max_examples=50)
@given(data=st.data(), n=st.integers(1, 7))
def test_deletion_plus_insertion_is_one_for_additive_games(data, n):
    weights = np.array(data.draw(st.lists(st.floats(0.01, 5), min_size=n, max_size=n)))
    order = data.draw(st.permutations(range(n)))

    def value_of(mask):
        return 2.0 + float(weights[mask].sum())

    assert deletion_auc(order, value_of) + insertion_auc(order, value_of) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# pixel maps


def test_attribution_map_spreads_values_and_adds_overlaps():
    a = np.zeros((2, 3), bool)
    a[:, :2] = True  # 4 px, value 2 -> 0.5 per pixel
    b = np.zeros((2, 3), bool)
    b[:, 1:] = True  # 4 px, value -4 -> -1 per pixel
    empty = np.zeros((2, 3), bool)
    density = attribution_map([2.0, -4.0, 7.0], [region("a", a), region("b", b), region("e", empty)], (3, 2))
    assert density.tolist() == [[0.5, -0.5, -1.0], [0.5, -0.5, -1.0]]
    with pytest.raises(ValueError, match="expected"):
        attribution_map([1.0], [region("a", a)], (2, 3))  # (W, H) swapped


@settings(deadline=None, max_examples=30)
@given(values=st.lists(st.floats(-3, 3), min_size=6, max_size=6))
def test_attribution_map_keeps_the_mass_of_a_partition(values):
    regions = grid_regions((7, 5), 2, 3)
    assert attribution_map(values, regions, (7, 5)).sum() == pytest.approx(sum(values))


def test_pointing_game_hand_computed():
    attr = np.zeros((10, 10))
    attr[0, 0] = 1.0
    target = np.zeros((10, 10), bool)
    target[0, 5] = True  # 5 px from the maximum
    assert pointing_game(attr, target, tolerance=5) == 1.0
    assert pointing_game(attr, target, tolerance=4) == 0.0
    attr[9, 9] = 1.0  # a second, tied maximum far from the target
    target[0, 0] = True
    assert pointing_game(attr, target, tolerance=0) == 0.5
    assert math.isnan(pointing_game(attr, np.zeros((10, 10), bool)))
    # a constant map points anywhere: the hit rate is the target's share of the image (tolerance 0)
    assert pointing_game(np.ones((10, 10)), target, tolerance=0) == pytest.approx(2 / 100)
    with pytest.raises(ValueError, match="must match"):
        pointing_game(attr, np.zeros((5, 5), bool))


def test_map_plausibility_hand_computed():
    attr = np.array([[1.0, 2.0], [3.0, 4.0]])
    human = np.array([[0.0, 0.0], [0.0, 1.0]])
    # ranks (1, 2, 3, 4) vs (2, 2, 2, 4): cov 3, variances 5 and 3 -> 3 / sqrt(15);
    # the human top region is the last cell, which has the highest score -> AUC 1
    scores = map_plausibility(attr, human)
    assert scores["spearman"] == pytest.approx(3 / math.sqrt(15))
    assert scores["auc"] == 1.0
    assert map_plausibility(-attr, human)["auc"] == 0.0
    # a finer map is block-averaged onto the coarser one
    fine = np.kron(attr, np.ones((3, 3)))
    assert map_plausibility(fine, human) == pytest.approx(scores)


def test_map_plausibility_constant_maps():
    human = np.array([[0.0, 0.0], [0.0, 1.0]])
    assert all(math.isnan(v) for v in map_plausibility(np.eye(2), np.ones((2, 2))).values())
    assert map_plausibility(np.ones((2, 2)), human) == {"spearman": 0.0, "auc": 0.5}


# ---------------------------------------------------------------------------------------------
# human patches


def test_human_patch_scores_hand_computed():
    values = [0.9, 0.1, 0.5, 0.3]  # ranking 0, 2, 3, 1 on a 2 x 2 grid
    human = [3, 1, 0]  # cell 2 (relevance 3), cell 0 (relevance 2)
    # k = 2: top {0, 2}; DCG = 2 / 1 + 3 / log2(3), ideal = 3 / 1 + 2 / log2(3)
    scores = human_patch_scores(values, human, k=2)
    assert scores["hit_at_2"] == 1.0
    assert scores["precision_at_2"] == 1.0
    assert scores["ndcg_at_2"] == pytest.approx((2 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)))
    # k = 1: top {0}: precision 1 / min(1, 2); NDCG 2 / 3
    assert human_patch_scores(values, human, k=1) == pytest.approx(
        {"hit_at_1": 1.0, "precision_at_1": 1.0, "ndcg_at_1": 2 / 3}
    )
    # one human patch, found at rank 3: precision divides by min(3, 1); NDCG (3 / log2 4) / 3
    assert human_patch_scores(values, [4, 0, 0]) == pytest.approx(
        {"hit_at_3": 1.0, "precision_at_3": 1.0, "ndcg_at_3": 0.5}
    )
    # a human patch ranked last scores nothing at k = 3
    assert human_patch_scores(values, [2, 0, 0]) == {"hit_at_3": 0.0, "precision_at_3": 0.0, "ndcg_at_3": 0.0}


def test_human_patch_scores_ties_duplicates_and_empty():
    # all tied, one human cell among 4: each metric is its chance level 1/4
    assert human_patch_scores(np.zeros(4), [1, 0, 0], k=1) == pytest.approx(
        {"hit_at_1": 0.25, "precision_at_1": 0.25, "ndcg_at_1": 0.25}
    )
    assert human_patch_scores([0.9, 0.1, 0.5, 0.3], [2, 2, 0]) == human_patch_scores([0.9, 0.1, 0.5, 0.3], [2, 0, 0])
    assert all(math.isnan(v) for v in human_patch_scores([0.9, 0.1], [0, 0, 0]).values())
    with pytest.raises(ValueError, match="not cells"):
        human_patch_scores([0.9, 0.1, 0.5, 0.3], [5, 0, 0])


@settings(deadline=None, max_examples=40)
@given(values=tied_values, data=st.data())
def test_human_patch_scores_are_expectations_over_tie_breaking(values, data):
    n = values.size
    human = data.draw(st.lists(st.integers(0, n), min_size=1, max_size=3))
    k = data.draw(st.integers(1, n))
    cells = [h - 1 for h in human if h > 0]
    assume(cells)  # no human patch at all: nan, tested separately
    relevance = {}
    for place, h in enumerate(human):
        if h > 0 and h - 1 not in relevance:
            relevance[h - 1] = len(human) - place
    ideal = sum(r / math.log2(i + 2) for i, r in enumerate(sorted(relevance.values(), reverse=True)[:k]))

    def scores(order):
        top = order[:k]
        hit = float(bool(set(top) & set(cells)))
        precision = len(set(top) & set(cells)) / min(k, len(relevance))
        dcg = sum(relevance.get(player, 0) / math.log2(rank + 2) for rank, player in enumerate(top))
        return np.array([hit, precision, dcg / ideal])

    expected = [brute_force_mean(values, lambda order, j=j: scores(order)[j]) for j in range(3)]
    got = human_patch_scores(values, human, k)
    assert [got[f"hit_at_{k}"], got[f"precision_at_{k}"], got[f"ndcg_at_{k}"]] == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# baselines


def test_central_and_largest_object_scores():
    big = np.zeros((100, 100), bool)
    big[40:60, 30:70] = True  # centre (50, 50), 800 px
    corner = np.zeros((100, 100), bool)
    corner[:10, :10] = True  # centre (5, 5), 100 px
    regions = [region("corner", corner), region("big", big)]
    # 1 - hypot(45, 45) / hypot(50, 50) = 0.1
    assert central_object_scores(regions, (100, 100)) == pytest.approx([0.1, 1.0])
    assert largest_object_scores(regions).tolist() == [100.0, 800.0]
    assert recall_at_k(central_object_scores(regions, (100, 100)), 1, k=1) == 1.0
    with pytest.raises(ValueError, match="at least one player"):
        largest_object_scores([])


def test_random_scores_give_chance_level():
    assert random_scores(5).tolist() == [0.0] * 5
    assert recall_at_k(random_scores(8), 3, k=2) == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match="positive"):
        random_scores(0)


def test_center_prior_scores_hand_computed():
    # 3 x 3 on a square: centre 1; edge cells 1 - (1/3) / sqrt(1/2); corners 1 - (1/3) / (1/2)
    scores = center_prior_scores(3, 3).reshape(3, 3)
    assert scores[1, 1] == 1.0
    assert scores[0, 1] == pytest.approx(1 - (1 / 3) / math.sqrt(0.5))
    assert scores[0, 0] == pytest.approx(1 / 3)
    # 1 x 2 cells over a 200 x 100 image: centres 50 px from the middle; half diagonal hypot(100, 50)
    assert center_prior_scores(1, 2, image_size=(200, 100)) == pytest.approx([1 - 50 / math.hypot(100, 50)] * 2)
    # the padded square does not depend on the image's aspect ratio
    assert np.array_equal(center_prior_scores(12, 12, (640, 480), pad_to_square=True), center_prior_scores(12, 12))
    # the four central cells of a 12 x 12 grid tie exactly, so they share the top
    top = ranking(center_prior_scores(12, 12))[:4]
    assert sorted(top.tolist()) == [65, 66, 77, 78]
    assert recall_at_k(center_prior_scores(12, 12), 65, k=1) == 0.25


def read_human_rows(path) -> list[list[int]]:
    rows = []
    for line in path.read_text().splitlines()[1:]:
        _, patches = line.split(" ; ")
        rows.append([int(p) for p in patches.split()])
    return rows


def test_center_prior_beats_random_on_the_human_patch_set(shared_data):
    rows = read_human_rows(shared_data / "patchwise_human" / "Human_Annotations.txt")
    prior, chance = center_prior_scores(12, 12, pad_to_square=True), random_scores(144)
    scored = [(human_patch_scores(prior, row), human_patch_scores(chance, row)) for row in rows]
    assert len(scored) > 800
    for key in ("hit_at_3", "precision_at_3", "ndcg_at_3"):
        prior_mean = np.nanmean([p[key] for p, _ in scored])
        chance_mean = np.nanmean([c[key] for _, c in scored])
        assert 0.0 < chance_mean < prior_mean <= 1.0


# ---------------------------------------------------------------------------------------------
# ties judged with a tolerance (estimator noise must not decide a tie)

_LEVELS = st.lists(st.integers(0, 4), min_size=2, max_size=10)


@settings(max_examples=200, deadline=None)
@given(levels=_LEVELS, noise=st.lists(st.floats(-1.0, 1.0), min_size=10, max_size=10), scale=st.floats(1e-3, 1e3), k=st.integers(1, 3))
def test_noise_far_below_the_scale_does_not_change_tie_aware_metrics(levels, noise, scale, k):
    """Scores on a few levels, perturbed by 1e-9 of their scale: every tie-aware metric stays exactly as it was."""
    assume(max(levels) > 0)
    exact = np.array(levels, dtype=float) * scale
    noisy = exact + np.array(noise[: exact.size]) * 1e-9 * scale
    for target in range(exact.size):
        assert recall_at_k(noisy, target, k) == recall_at_k(exact, target, k)
    np.testing.assert_array_equal(ranking(noisy), ranking(exact))
    np.testing.assert_array_equal(top_k_probability(as_scores(noisy), k), top_k_probability(as_scores(exact), k))


@settings(max_examples=200, deadline=None)
@given(levels=_LEVELS, scale=st.floats(1e-3, 1e3), gap=st.floats(1e-5, 1.0))
def test_a_real_difference_still_breaks_a_tie(levels, scale, gap):
    scores = np.array(levels, dtype=float) * scale
    best = int(np.argmax(scores))
    scores[best] += gap * scale
    assert recall_at_k(scores, best, 1) == 1.0 and ranking(scores)[0] == best


def test_standard_errors_widen_the_tie_tolerance():
    scores = np.array([0.5, 0.5 + 1e-5, 0.1])
    assert tie_tolerance(scores) == pytest.approx(1e-6 * (0.5 + 1e-5))
    assert tie_tolerance(scores, [0.02, np.nan, 0.01]) == pytest.approx(tie_tolerance(scores) + 2e-5)
    np.testing.assert_array_equal(merge_ties(scores, tie_tolerance(scores)), scores)  # 1e-5 apart: distinct
    np.testing.assert_array_equal(merge_ties(scores, tie_tolerance(scores, [0.02, 0.02, 0.02])), [0.5, 0.5, 0.1])
