"""The Patchwise "single input approximation": fit a small network to v, then read the network out.

Plan: the fixed rows every plan carries (empty, full, leave-one-outs) and distinct uniformly
random coalitions, i.e. Bernoulli(0.5) per player, drawn up front and seeded.

Solve: fit a surrogate f(x) ~ v(x) on the planned rows (x the 0/1 presence vector), shaped as
in the reference (n -> 2n -> CELU -> 1 -> sigmoid, SGD lr 0.008, momentum 0.9, MSE, batches of
300), then read it out, which costs no model call:

- `readout="banzhaf"` (as published): mean f(x with i) - f(x without i) over Bernoulli(0.5) x,
  a Banzhaf value of the surrogate;
- `readout="shapley"`: the Shapley value of the surrogate.

Both are exact over all 2^n coalitions of the surrogate for n <= 14 and sampled beyond
(`readout_samples` coalitions or permutations, seeded by the plan). Deviations from the
reference, each because its setting cannot fit the data it gets: values are min-max scaled
into [0, 1] before the fit (the sigmoid output cannot reach a log-probability) and scaled back
after it; training runs at least `min_steps` SGD steps (100 epochs of one batch each is 100
steps, far from converged on a budget of a few hundred rows).

Diagnostics: `surrogate_r2`, the R^2 on a seeded held-out fifth of the rows of a network fitted
on the other four fifths. Standard errors: the spread of the readout over `bootstraps`
networks fitted on bootstrap resamples of the rows. All networks train together as one batched
ensemble, so the extra fits cost little more than one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelshap_eval.shapley.base import MAX_EXACT_PLAYERS, Attribution, Coalitions, Design, Seed, as_generator
from pixelshap_eval.shapley.plans import PlanBuilder, SamplingEstimator, distinct_uniform_coalitions
from pixelshap_eval.shapley.tables import banzhaf_from_table, coalition_codes, shapley_from_table

READOUTS = ("banzhaf", "shapley")
HELD_OUT_SHARE = 0.2


@dataclass(frozen=True, eq=False)
class SurrogateDesign(Design):
    """The drawn rows and the seed of everything random in the solve (initial weights,
    batches, bootstrap resamples, held-out rows, sampled readouts)."""

    draws: np.ndarray  # (draws,) plan rows drawn uniformly
    fit_seed: int


@dataclass(frozen=True)
class TrainingSettings:
    """How the surrogate network is trained (defaults: the reference's, plus `min_steps`)."""

    learning_rate: float = 0.008
    momentum: float = 0.9
    batch_size: int = 300
    epochs: int = 100
    min_steps: int = 2000

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or not 0 <= self.momentum < 1:
            raise ValueError(f"surrogate training needs learning_rate > 0 and 0 <= momentum < 1, got {self}")
        if min(self.batch_size, self.epochs, self.min_steps) < 1:
            raise ValueError(f"surrogate training needs batch_size, epochs and min_steps >= 1, got {self}")


class SurrogateShapley(SamplingEstimator):
    """Attribution by a neural surrogate of the game (Patchwise), read out as Banzhaf or Shapley."""

    name = "surrogate"

    def __init__(
        self,
        readout: str = "banzhaf",
        bootstraps: int = 8,
        readout_samples: int = 4096,
        training: TrainingSettings | None = None,
    ) -> None:
        if readout not in READOUTS:
            raise ValueError(f"surrogate readout must be one of {list(READOUTS)}, got {readout!r}")
        if bootstraps < 2:
            raise ValueError(f"surrogate bootstraps must be at least 2 (for a standard error), got {bootstraps}")
        if readout_samples < 1:
            raise ValueError(f"surrogate readout_samples must be positive, got {readout_samples}")
        self.readout = readout
        self.bootstraps = bootstraps
        self.readout_samples = readout_samples
        self.training = training or TrainingSettings()

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        gen = as_generator(rng)
        builder = PlanBuilder(n, with_leave_one_out=budget >= n + 2)
        draws = []
        for row in distinct_uniform_coalitions(n, gen):
            if builder.count_new([row]) > budget - len(builder):
                break
            draws.append(builder.add(row))
        fit_seed = int(gen.integers(2**31))
        return Coalitions(builder.masks(), self.name, SurrogateDesign(draws=np.array(draws, dtype=int), fit_seed=fit_seed))

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        design = self._design(coalitions, SurrogateDesign)
        n = coalitions.n_players
        if len(values) == 1 << n:  # every coalition observed: read out the game itself, exactly
            table = np.empty(len(values))
            table[coalition_codes(coalitions.masks)] = values
            exact = banzhaf_from_table if self.readout == "banzhaf" else shapley_from_table
            return self._attribution(coalitions, values, exact(table), np.zeros(n), {"surrogate_r2": float("nan")})
        gen = np.random.default_rng(design.fit_seed)
        x = coalitions.masks.astype(float)
        low, span = float(values.min()), float(np.ptp(values))
        if span == 0.0:  # a constant game: every player is worth nothing, exactly
            return self._attribution(coalitions, values, np.zeros(n), np.zeros(n), {"surrogate_r2": float("nan")})
        target = (values - low) / span

        rows = len(values)
        held_out = np.zeros(rows, dtype=bool)
        held_out[gen.choice(rows, max(1, round(HELD_OUT_SHARE * rows)), replace=False)] = True
        weights = np.vstack(
            [
                np.ones(rows),  # the network whose readout is the estimate
                (~held_out).astype(float),  # the one whose held-out error is reported
                *(np.bincount(gen.integers(rows, size=rows), minlength=rows).astype(float) for _ in range(self.bootstraps)),
            ]
        )
        ensemble = fit_ensemble(x, target, weights, self.training, gen)
        scores = span * self._read_out(ensemble, n, gen)
        predicted_held_out = ensemble.predict(x[held_out])[1]
        return self._attribution(
            coalitions,
            values,
            scores[0],
            scores[2:].std(axis=0, ddof=1),
            {"surrogate_r2": r_squared(target[held_out], predicted_held_out)},
        )

    def _read_out(self, ensemble: SurrogateEnsemble, n: int, gen: np.random.Generator) -> np.ndarray:
        """(members, n) readouts of every network of the ensemble."""
        if n <= MAX_EXACT_PLAYERS:
            codes = np.arange(1 << n)
            tables = ensemble.predict(((codes[:, None] >> np.arange(n)) & 1).astype(float))
            exact = banzhaf_from_table if self.readout == "banzhaf" else shapley_from_table
            return np.array([exact(table) for table in tables])
        if self.readout == "banzhaf":
            return sampled_banzhaf(ensemble, n, self.readout_samples, gen)
        return sampled_shapley(ensemble, n, max(1, self.readout_samples // n), gen)


class SurrogateEnsemble:
    """Networks n -> 2n -> CELU -> 1 -> sigmoid trained side by side (one per weight row)."""

    def __init__(self, n_players: int, members: int, gen: np.random.Generator) -> None:
        hidden = 2 * n_players
        bound_in, bound_hidden = 1 / np.sqrt(n_players), 1 / np.sqrt(hidden)  # PyTorch's Linear init
        self.w1 = gen.uniform(-bound_in, bound_in, (members, n_players, hidden))
        self.b1 = gen.uniform(-bound_in, bound_in, (members, 1, hidden))
        self.w2 = gen.uniform(-bound_hidden, bound_hidden, (members, hidden))
        self.b2 = gen.uniform(-bound_hidden, bound_hidden, (members, 1))

    def parameters(self) -> list[np.ndarray]:
        return [self.w1, self.b1, self.w2, self.b2]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hidden pre-activations, hidden activations and outputs, each with a members axis."""
        pre = np.einsum("bn,mnh->mbh", x, self.w1) + self.b1
        hidden = np.where(pre > 0, pre, np.expm1(np.minimum(pre, 0.0)))  # CELU, alpha 1
        logits = np.einsum("mbh,mh->mb", hidden, self.w2) + self.b2
        return pre, hidden, 1.0 / (1.0 + np.exp(-logits))

    def predict(self, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """(members, rows) surrogate values of the coalitions `x`."""
        return np.concatenate([self.forward(x[start : start + chunk])[2] for start in range(0, len(x), chunk)], axis=1)

    def gradients(self, x: np.ndarray, target: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
        """Gradients of each member's weighted mean squared error on the batch."""
        pre, hidden, output = self.forward(x)
        totals = np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        d_logits = 2 * weights / totals * (output - target) * output * (1 - output)  # (m, b)
        d_hidden = d_logits[:, :, None] * self.w2[:, None, :] * np.where(pre > 0, 1.0, np.exp(np.minimum(pre, 0.0)))
        return [
            np.einsum("bn,mbh->mnh", x, d_hidden),
            d_hidden.sum(axis=1, keepdims=True),
            np.einsum("mbh,mb->mh", hidden, d_logits),
            d_logits.sum(axis=1, keepdims=True),
        ]


def fit_ensemble(
    x: np.ndarray, target: np.ndarray, weights: np.ndarray, training: TrainingSettings, gen: np.random.Generator
) -> SurrogateEnsemble:
    """One network per row of `weights` (row weights of the training rows), SGD with momentum
    on shuffled batches, for max(epochs, enough epochs to make min_steps) epochs."""
    rows = len(target)
    ensemble = SurrogateEnsemble(x.shape[1], len(weights), gen)
    batches_per_epoch = -(-rows // training.batch_size)
    epochs = max(training.epochs, -(-training.min_steps // batches_per_epoch))
    velocity = [np.zeros_like(p) for p in ensemble.parameters()]
    for _ in range(epochs):
        order = gen.permutation(rows)
        for start in range(0, rows, training.batch_size):
            batch = order[start : start + training.batch_size]
            for parameter, speed, gradient in zip(
                ensemble.parameters(), velocity, ensemble.gradients(x[batch], target[batch], weights[:, batch])
            ):
                speed *= training.momentum
                speed += gradient
                parameter -= training.learning_rate * speed
    return ensemble


def sampled_banzhaf(ensemble: SurrogateEnsemble, n: int, samples: int, gen: np.random.Generator) -> np.ndarray:
    """Banzhaf values of each member from `samples` Bernoulli(0.5) coalitions, every player
    toggled in each (the same draws for every member)."""
    base = gen.random((samples, n)) < 0.5
    phi = np.zeros((len(ensemble.w1), n))
    for i in range(n):
        with_i, without_i = base.copy(), base.copy()
        with_i[:, i], without_i[:, i] = True, False
        phi[:, i] = (ensemble.predict(with_i.astype(float)) - ensemble.predict(without_i.astype(float))).mean(axis=1)
    return phi


def sampled_shapley(ensemble: SurrogateEnsemble, n: int, permutations: int, gen: np.random.Generator) -> np.ndarray:
    """Shapley values of each member from `permutations` random orders (each order's n+1
    prefixes evaluated in one batch; the same orders for every member)."""
    phi = np.zeros((len(ensemble.w1), n))
    for _ in range(permutations):
        order = gen.permutation(n)
        prefixes = np.zeros((n + 1, n))
        for step, player in enumerate(order):
            prefixes[step + 1 :, player] = 1.0
        marginal = np.diff(ensemble.predict(prefixes), axis=1)  # (members, n) in the order's order
        phi[:, order] += marginal
    return phi / permutations


def r_squared(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination; nan when the observed values do not vary."""
    spread = float(np.sum((observed - observed.mean()) ** 2))
    if len(observed) < 2 or spread == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((observed - predicted) ** 2)) / spread
