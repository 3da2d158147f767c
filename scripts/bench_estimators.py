"""Benchmark the estimators against exact Shapley as a function of model calls.

Two families of games, each small enough (n <= 12) that every coalition value is known, so
exact Shapley is the reference and every estimator only looks its planned values up:

(a) random games: additive + sparse pairwise + a few third-order terms, seeded;
(b) VLM games: the largest n annotated objects of a COCO image (from coco_tiny) are the
    players, hidden with BBOA black masking; v(S) = summed log-probability of a fixed answer
    under a VLM (`--vlm tiny`: a random tiny LLaVA; `--vlm toy`: the shipped toy VLM).

For each n and budget (formulas in n, e.g. 2n+2, 4n, 8n, 16n) the tables show, per estimator,
the Spearman correlation with exact Shapley and the normalised L2 error ||est - exact|| /
||exact||, averaged over games and seeds. `pixelshap` scores are rescaled to sum 1, so only
their ranks are comparable (no L2). A number in parentheses is the mean of calls actually
used where an estimator left more than 5% of the budget unused; "-" marks budgets below an
estimator's minimum; "*" marks cells where some runs left a player undefined (banzhaf: a
player never or always in the drawn coalitions), averaged over the defined runs.

    python scripts/bench_estimators.py --quick        # < 2 minutes on 2 CPU cores
    python scripts/bench_estimators.py                # n = 4..12, about 10 minutes
    python scripts/bench_estimators.py --vlm toy --out bench.md
    python scripts/bench_estimators.py --sizes 6,8,10,12 --games 3 --seeds 3 --budgets 2n+2,4n,8n,32n \
        --estimators kernel,permutation,shapiq:all --vlm toy --vlm-sizes 6,8,10,12 --images 3   # ~2 min

`shapiq:<ClassName>` columns are shapiq's approximators (a test dependency) at the same model
calls; the summary adds the paired difference of `kernel` and the best of them. Every column is
one `Entry` in `ENTRIES`: a new estimator of pixelshap_eval.shapley is one line, `ours(name)`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from pixelshap_eval.lmms.config import budget_for
from pixelshap_eval.shapley import MAX_EXACT_PLAYERS, coalition_codes, get_estimator, shapley_from_table

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ESTIMATORS = ("kernel", "permutation", "banzhaf", "pixelshap", "loo")
QUICK = {"sizes": "4-8", "games": 2, "seeds": 4, "budgets": "2n+2,4n,8n,16n", "vlm_sizes": "4-6", "images": 1}


# ------------------------------------------------------------------ games


def indicator_matrix(n: int) -> np.ndarray:
    codes = np.arange(2**n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(float)


def n_players_of(table: np.ndarray) -> int:
    """Players of a game given as a value table (`table[code]` = value of the coalition whose
    bit i is set when player i is present)."""
    return round(np.log2(len(table)))


def random_game(n: int, seed: int) -> np.ndarray:
    """Value table: additive weights, half of all pairs interacting, n // 2 third-order terms."""
    rng = np.random.default_rng([n, seed])
    z = indicator_matrix(n)
    table = z @ rng.normal(size=n)
    pairwise = np.triu(rng.normal(scale=0.5, size=(n, n)) * (rng.random((n, n)) < 0.5), 1)
    table += np.einsum("ci,ij,cj->c", z, pairwise, z)
    for _ in range(n // 2):
        table += rng.normal() * z[:, rng.choice(n, 3, replace=False)].prod(axis=1)
    return table


def load_runner(args: argparse.Namespace) -> Any:
    """An HFRunner of the chosen VLM (loaded first, so a missing model fails fast)."""
    import torch

    from pixelshap_eval.hf_runner import HFRunner

    torch.set_num_threads(args.threads)
    if args.vlm == "tiny":
        from pixelshap_eval.testing.tiny_models import tiny_llava

        return HFRunner(*tiny_llava(seed=0), batch_size=args.batch_size)
    from pixelshap_eval.toy import load_toy_model

    return HFRunner(*load_toy_model(), batch_size=args.batch_size)


@dataclass(frozen=True)
class CocoImage:
    """One COCO image with its non-crowd objects' masks and category names, largest first."""

    path: Path
    masks: list[np.ndarray]
    categories: list[str]


def coco_images(coco_dir: Path) -> list[tuple[Path, Any, list[dict]]]:
    """Every image of coco_tiny (val2017 then train2017, by id) with the COCO index it comes
    from and its non-crowd annotations."""
    from pycocotools.coco import COCO

    images = []
    for split in ("val2017", "train2017"):
        annotation_file = coco_dir / "annotations" / f"instances_{split}.json"
        if not annotation_file.is_file():
            continue
        coco = _quiet(COCO, str(annotation_file))
        for image_id in sorted(coco.getImgIds()):
            objects = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False))
            images.append((coco_dir / split / coco.loadImgs(image_id)[0]["file_name"], coco, objects))
    if not images:
        raise SystemExit(f"no COCO annotations under {coco_dir}/annotations; pass --coco <coco_tiny folder>")
    return images


def with_objects(images, min_objects: int, count: int) -> list[CocoImage]:
    """The first `count` images having at least `min_objects` objects."""
    chosen = []
    for path, coco, objects in images:
        if len(objects) < min_objects:
            continue
        masks = [coco.annToMask(a).astype(bool) for a in objects]
        order = np.argsort([-m.sum() for m in masks], kind="stable")
        categories = [coco.loadCats(objects[k]["category_id"])[0]["name"] for k in order]
        chosen.append(CocoImage(path, [masks[k] for k in order], categories))
        if len(chosen) == count:
            break
    return chosen


def cached_vlm_games(args: argparse.Namespace, runner: Any, sizes: list[int]) -> list[np.ndarray]:
    """`vlm_games`, read from `--games-cache` when it was made with the same settings."""
    keys = ("vlm", "images", "question", "answer", "max_side", "coco")
    settings = repr([str(getattr(args, key)) for key in keys] + sizes)
    cache = args.games_cache
    if cache is not None and cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if str(stored["settings"]) == settings:
            log(f"vlm games read from {cache}")
            return [stored[f"game_{k}"] for k in range(int(stored["count"]))]
    games = vlm_games(args, runner, sizes)
    if cache is not None:
        np.savez(cache, settings=settings, count=len(games), **{f"game_{k}": g for k, g in enumerate(games)})
    return games


def vlm_games(args: argparse.Namespace, runner: Any, sizes: list[int]) -> list[np.ndarray]:
    """All 2^n coalition values of COCO images under the VLM, via explain(estimator="exact")."""
    from PIL import Image

    from pixelshap_eval.explain import explain
    from pixelshap_eval.players import Region, box_of_mask

    images = coco_images(args.coco)
    games = []
    for n in sizes:
        for coco_image in with_objects(images, n, args.images):
            path = coco_image.path
            image = Image.open(path).convert("RGB")
            scale = min(1.0, args.max_side / max(image.size))
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.BICUBIC)
            regions = []
            for index, (mask, category) in enumerate(zip(coco_image.masks[:n], coco_image.categories)):
                small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 0
                regions.append(Region(label=f"{category}_{index}", mask=small, box=box_of_mask(small), id=index))
            question = args.question.format(category=coco_image.categories[0])

            def ask(batch, question=question):
                return runner.loglikelihood(batch, [question] * len(batch), [args.answer] * len(batch))

            started = time.time()
            explanation = explain(image, regions, ask, estimator="exact", batch_size=args.batch_size, progress=False)
            table = np.empty(2**n)
            table[coalition_codes(explanation.coalitions.masks)] = explanation.coalition_values
            games.append(table)
            log(f"  vlm game {path.name} n={n}: {2**n} coalitions in {time.time() - started:.1f}s")
    return games


# ------------------------------------------------------------------ the estimators compared


@dataclass(frozen=True)
class Run:
    """One estimate of a game's Shapley values and the distinct coalitions it evaluated."""

    scores: np.ndarray
    calls: int


@dataclass(frozen=True)
class Entry:
    """One column of the benchmark: a seeded estimate of a value table's Shapley values at a
    budget of model calls (distinct coalitions, empty and full included)."""

    min_budget: Callable[[int], int]
    run: Callable[[np.ndarray, int, int], Run]  # (table, budget, seed) -> Run
    seeded: bool = True  # False: deterministic, run once per game
    ranks_only: bool = False  # scores on another scale (no L2 error)


def ours(name: str, **kwargs: Any) -> Entry:
    """A pixelshap_eval estimator: its plan's rows are looked up in the table, then solved."""
    estimator = get_estimator(name, **kwargs)

    def run(table: np.ndarray, budget: int, seed: int) -> Run:
        coalitions = estimator.plan(n_players_of(table), budget, seed)
        attribution = estimator.solve(coalitions, table[coalition_codes(coalitions.masks)])
        return Run(attribution.scores, len(coalitions))

    return Entry(estimator.min_budget, run, seeded=name != "loo", ranks_only=name == "pixelshap")


class TableGame:
    """A value table as a shapiq game (a callable on boolean coalition matrices), remembering
    the distinct coalitions asked for: a repeat is not a model call, as in our plans."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.asarray(table, dtype=float)
        self.asked: set[int] = set()

    def __call__(self, coalitions: np.ndarray) -> np.ndarray:
        codes = coalition_codes(np.atleast_2d(np.asarray(coalitions, dtype=bool)))
        self.asked.update(codes.tolist())
        return self.table[codes]


def shapiq_values(interaction_values: Any, n: int) -> np.ndarray:
    """The order-1 entries (Shapley values) of a shapiq InteractionValues, in player order."""
    return np.array([interaction_values[(player,)] for player in range(n)], dtype=float)


def theirs(class_name: str, **kwargs: Any) -> Entry:
    """A shapiq approximator of Shapley values (shapiq's defaults plus `kwargs`).

    shapiq's budget counts game evaluations, repeats included; ours counts distinct
    coalitions. Approximators that repeat coalitions (the permutation and stratified
    samplers) get the largest shapiq budget whose distinct coalitions still fit ours, so both
    sides spend the same number of model calls."""

    def attempt(table: np.ndarray, shapiq_budget: int, seed: int) -> Run:
        import shapiq

        n = n_players_of(table)
        game = TableGame(table)
        approximator = getattr(shapiq.approximator, class_name)(n=n, random_state=seed, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = approximator.approximate(shapiq_budget, game)
        return Run(shapiq_values(values, n), len(game.asked))

    def run(table: np.ndarray, budget: int, seed: int) -> Run:
        budget = min(budget, len(table))
        best = attempt(table, budget, seed)
        if best.calls >= budget:
            return best
        low, high = budget, budget  # low fits; find a high that does not, then bisect
        while high < 16 * budget:
            high *= 2
            found = attempt(table, high, seed)
            if found.calls > budget:
                break
            low, best = high, found
        else:
            return best
        while high - low > 1:
            middle = (low + high) // 2
            found = attempt(table, middle, seed)
            if found.calls <= budget:
                low, best = middle, found
            else:
                high = middle
        return best

    return Entry(lambda n: 2, run)


# shapiq's approximators of order-1 Shapley values (shapiq.approximator.SV_APPROXIMATORS, less
# SPEX/ProxySPEX: sparse Fourier methods for n in the hundreds, which refuse budgets this small)
SHAPIQ_SHAPLEY = ("KernelSHAP", "UnbiasedKernelSHAP", "kADDSHAP", "SVARM", "PermutationSamplingSV",
                  "StratifiedSamplingSV", "OwenSamplingSV")

ENTRIES: dict[str, Entry] = {
    "kernel": ours("kernel"),
    "kernel_js": ours("kernel", ridge=0.0, shrinkage=1.0),  # the default before the ridge
    "permutation": ours("permutation"),
    "banzhaf": ours("banzhaf"),
    "pixelshap": ours("pixelshap", sampling_ratio=1.0),
    "loo": ours("loo"),
    "surrogate": ours("surrogate"),
    "surrogate_shapley": ours("surrogate", readout="shapley"),
    **{f"shapiq:{name}": theirs(name) for name in SHAPIQ_SHAPLEY},
}
SHORTCUTS = {"shapiq:all": [f"shapiq:{name}" for name in SHAPIQ_SHAPLEY]}


def entry_names(text: str) -> list[str]:
    """"kernel,shapiq:all" -> the registered entry names, shortcuts expanded."""
    names: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        for expanded in SHORTCUTS.get(name, [name] if name else []):
            if expanded not in ENTRIES:
                raise SystemExit(f"unknown estimator {expanded!r}; choose from {sorted(ENTRIES) + sorted(SHORTCUTS)}")
            if expanded not in names:
                names.append(expanded)
    return names


# ------------------------------------------------------------------ scoring


def evaluate(games: list[np.ndarray], estimators: list[str], budgets: list[str], seeds: int):
    """{(n, budget formula, estimator): (spearman list, nL2 list, calls list)} over value tables."""
    results: dict[tuple[int, str, str], tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    for table in games:
        n = n_players_of(table)
        exact = shapley_from_table(table)
        for formula in budgets:
            budget = budget_for(formula, n)
            for name in estimators:
                entry = ENTRIES[name]
                if budget < entry.min_budget(n):
                    continue
                cell = results[(n, formula, name)]
                for seed in range(seeds if entry.seeded else 1):
                    run = entry.run(table, budget, seed)
                    cell[0].append(_spearman(run.scores, exact))
                    cell[1].append(np.linalg.norm(run.scores - exact) / np.linalg.norm(exact))
                    cell[2].append(run.calls)
    return results


def _spearman(estimate: np.ndarray, exact: np.ndarray) -> float:
    if np.ptp(estimate) == 0 or np.ptp(exact) == 0:
        return float("nan")
    return float(spearmanr(estimate, exact).statistic)


def markdown_table(results, sizes: list[int], budgets: list[str], estimators: list[str]) -> str:
    header = ["n", "budget", "calls"] + [f"{name} ρ / nL2" for name in estimators]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n in sizes:
        for formula in budgets:
            budget = budget_for(formula, n)
            cells = [str(n), formula, str(min(budget, 2**n))]
            for name in estimators:
                cells.append(_cell(results.get((n, formula, name)), name, min(budget, 2**n)))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(results, sizes: list[int], budgets: list[str], estimators: list[str]) -> str:
    """Spearman ρ mean ± standard error over every (n, game, seed) of each budget formula, the
    best mean of each row in bold (naming the n when some were below an estimator's minimum)."""
    theirs_names = [name for name in estimators if name.startswith("shapiq:")]
    paired = "kernel" in estimators and bool(theirs_names)
    header = ["budget"] + [f"{name} ρ" for name in estimators] + (["kernel − best shapiq (paired)"] if paired else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for formula in budgets:
        pooled = {name: np.array([v for k in sorted(results) if k[1:] == (formula, name) for v in results[k][0]], dtype=float)
                  for name in estimators}
        texts, means = [], []
        for name in estimators:
            keys = sorted(k for k in results if k[1] == formula and k[2] == name)
            rho = np.array([value for key in keys for value in results[key][0]], dtype=float)
            rho = rho[np.isfinite(rho)]
            means.append(rho.mean() if len(rho) else -np.inf)
            text = f"{rho.mean():.3f} ± {rho.std(ddof=1) / np.sqrt(len(rho)) if len(rho) > 1 else 0:.3f}" if len(rho) else "-"
            if keys and len(keys) < len(sizes):
                text += f" [n={','.join(str(k[0]) for k in keys)} only]"
            texts.append(text)
        best = max(means)
        cells = [formula] + [f"**{text}**" if mean == best and np.isfinite(mean) else text for text, mean in zip(texts, means)]
        if paired:
            rival = max(theirs_names, key=lambda name: _mean(pooled[name]) if len(pooled[name]) else -np.inf)
            cells.append(_paired_difference(pooled["kernel"], pooled[rival]) + f" ({rival[7:]})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _paired_difference(ours: np.ndarray, theirs: np.ndarray) -> str:
    """Mean ± standard error of the per-run difference (same games, same seeds, same order)."""
    if len(ours) != len(theirs) or not len(ours):
        return "-"
    difference = ours - theirs
    difference = difference[np.isfinite(difference)]
    if len(difference) < 2:
        return "-"
    return f"{difference.mean():+.3f} ± {difference.std(ddof=1) / np.sqrt(len(difference)):.3f}"


def _cell(cell, name: str, budget: int | None) -> str:
    if not cell or not cell[0]:
        return "-"
    rho, error = np.array(cell[0]), np.array(cell[1])
    text = f"{_mean(rho):.3f} / " + ("–" if ENTRIES[name].ranks_only else f"{_mean(error):.3f}")
    if np.isnan(error).any():
        text += "*"
    calls = float(np.mean(cell[2]))
    if budget is not None and ENTRIES[name].seeded and calls < 0.95 * budget:
        text += f" ({calls:.0f})"
    return text


def _mean(values: np.ndarray) -> float:
    """Mean over the defined entries (nan when none is)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


# ------------------------------------------------------------------ command line


def parse_sizes(text: str) -> list[int]:
    """"4-12" or "4,6,8" -> player counts."""
    sizes: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        sizes.extend(range(int(low), int(high or low) + 1))
    if not sizes or min(sizes) < 2 or max(sizes) > MAX_EXACT_PLAYERS:
        raise SystemExit(f"sizes must lie in 2..{MAX_EXACT_PLAYERS} (exact Shapley is the reference), got {text!r}")
    return sizes


def default_coco_dir() -> Path:
    root = os.environ.get("PIXELSHAP_SHARED_DATA")
    candidates = [Path(root)] if root else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")]
    for candidate in candidates:
        if (candidate / "coco_tiny").is_dir():
            return candidate / "coco_tiny"
    return candidates[-1] / "coco_tiny"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"small settings for a run under 2 minutes: {QUICK}")
    parser.add_argument("--sizes", default="4-12", help="player counts of the random games, e.g. 4-12 or 4,8")
    parser.add_argument("--games", type=int, default=5, help="random games per player count")
    parser.add_argument("--seeds", type=int, default=10, help="plan seeds per game, estimator and budget")
    parser.add_argument("--budgets", default="2n+2,4n,8n,16n,32n", help="comma-separated budget formulas in n")
    parser.add_argument("--estimators", default=",".join(DEFAULT_ESTIMATORS), help="comma-separated estimator names")
    parser.add_argument("--vlm", choices=("none", "tiny", "toy"), default="tiny", help="model of the VLM games")
    parser.add_argument("--vlm-sizes", default="4-12", help="player counts of the VLM games")
    parser.add_argument("--images", type=int, default=2, help="COCO images per player count in the VLM games")
    parser.add_argument("--coco", type=Path, default=default_coco_dir(), help="coco_tiny folder (annotations/, val2017/, train2017/)")
    parser.add_argument("--question", default="does this image show a {category}? one word answer please.",
                        help="question asked about each image; {category} = its largest object's category")
    parser.add_argument("--answer", default="yes", help="the fixed answer whose log-probability is the value")
    parser.add_argument("--max-side", type=int, default=336, help="images are downscaled to this longest side first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument("--games-cache", type=Path,
                        help="an .npz of the VLM games' value tables: read when it holds these settings, else written")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    estimators = entry_names(args.estimators)
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    for formula in budgets:
        budget_for(formula, 4)
    started = time.time()
    sections = [
        "# Estimator benchmark: error against exact Shapley",
        (
            f"Settings: games/n={args.games}, seeds={args.seeds}, budgets={budgets}, estimators={estimators}. "
            "Summary cells: Spearman ρ with exact Shapley, mean ± standard error over every (n, game, seed), the "
            "best of each row in bold. Per-n cells: Spearman ρ / normalised L2 error, means over games and seeds; "
            "(k): mean calls used where an estimator left over 5% of the budget unused; '-': budget below the "
            "estimator's minimum; '*': some runs left a player undefined (means over the defined runs). A budget "
            "counts distinct coalitions (model calls), empty and full included, for every estimator; shapiq:* are "
            "shapiq's approximators at its defaults. pixelshap runs with sampling_ratio=1 (budget-limited) and is "
            "normalised to sum 1, so it has no L2 error."
        ),
    ]

    sizes = parse_sizes(args.sizes)
    vlm_sizes = parse_sizes(args.vlm_sizes)
    try:
        runner = load_runner(args) if args.vlm != "none" else None
    except FileNotFoundError as error:
        log(f"error: {error}")
        return 2
    games = [random_game(n, seed) for n in sizes for seed in range(args.games)]
    results = evaluate(games, estimators, budgets, args.seeds)
    sections += ["## (a) Random games (additive + pairwise + third-order)", summary_table(results, sizes, budgets, estimators),
                 "Per n:", markdown_table(results, sizes, budgets, estimators)]
    log(f"random games done in {time.time() - started:.0f}s")

    if runner is not None:
        vlm_started = time.time()
        games = cached_vlm_games(args, runner, vlm_sizes)
        results = evaluate(games, estimators, budgets, args.seeds)
        found = sorted({n_players_of(table) for table in games})
        sections += [
            (
                f"## (b) VLM games: `{args.vlm}` model, COCO objects as players, BBOA black masking, "
                f"v = log p({args.answer!r} | masked image, question); {args.images} image(s) per n"
            ),
            summary_table(results, found, budgets, estimators),
            "Per n:",
            markdown_table(results, found, budgets, estimators),
        ]
        log(f"vlm games done in {time.time() - vlm_started:.0f}s")

    sections.append(f"Total time: {time.time() - started:.0f}s.")
    report = "\n\n".join(sections) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


def _quiet(build, *args):
    """`build(*args)` with stdout silenced (pycocotools prints while indexing)."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return build(*args)


if __name__ == "__main__":
    raise SystemExit(main())
