"""Coalitions per second through lmms-eval: the plugin's batched `pixelshap_hf` adapter at batch
sizes 1, 8 and 32 against lmms-eval's bundled `llava_hf` (batch size 1), on the same tiny model
and documents, in one run; plus where the wall time goes (model, masking, embedding, the rest),
and inside the model's share: the vision tower, the prefill forward and the one-token decode
forwards, the remainder being `generate`'s own work between forwards.

    python scripts/bench_throughput.py [--docs 4] [--budget 48] [--batch-sizes 1 8 32] [--masking input image]

The COCO object-importance set is built from ../shared/data (or $PIXELSHAP_SHARED_DATA) into a
temporary folder; the model is a tiny random model of the given family (bundled llava_hf takes
LLaVA models only). Timings are wall-clock on this machine, compared side by side.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from lmms_eval.evaluator import simple_evaluate  # noqa: E402

from pixelshap_eval.data.coco import build_coco_set  # noqa: E402
from pixelshap_eval.input_space import InputSpaceEncoder  # noqa: E402
from pixelshap_eval.lmms import task as task_module  # noqa: E402
from pixelshap_eval.lmms.base import CoalitionTask  # noqa: E402
from pixelshap_eval.lmms.hf_model import PixelShapHF  # noqa: E402
from pixelshap_eval.lmms.responses import EMBEDDERS  # noqa: E402
from pixelshap_eval.testing.tiny_models import save_tiny_model  # noqa: E402
from pixelshap_eval.values import TextEmbedder  # noqa: E402

TASK = "pixelshap_coco"


class Stopwatch:
    """Accumulates the exclusive wall time of wrapped callables by name: time spent in a wrapped
    call inside another goes to the inner one's name only (so the shares add up)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []
        self._since = 0.0

    def _switch(self, name: str | None) -> None:
        now = time.perf_counter()
        if self._stack:
            self.totals[self._stack[-1]] += now - self._since
        self._since = now
        if name is None:
            self._stack.pop()
        else:
            self._stack.append(name)

    @contextmanager
    def wrapped(self, owner, attribute: str, name: str | Callable[..., str]):
        """Time `owner.attribute` under `name`, or under `name(*args, **kwargs)` when it is a
        callable (one wrapper that files each call by its arguments)."""
        original = getattr(owner, attribute)

        @functools.wraps(original)  # generate reads the forward's signature (logits_to_keep)
        def timed(*args, **kwargs):
            label = name(*args, **kwargs) if callable(name) else name
            self._switch(label)
            try:
                return original(*args, **kwargs)
            finally:
                self._switch(None)
                self.calls[label] += 1

        setattr(owner, attribute, timed)
        try:
            yield
        finally:
            setattr(owner, attribute, original)


def shared_data() -> Path:
    for candidate in (os.environ.get("PIXELSHAP_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data", "/work/shared/data"):
        if candidate and (Path(candidate) / "coco_tiny").is_dir():
            return Path(candidate)
    raise SystemExit("real data not found: set PIXELSHAP_SHARED_DATA to the folder holding coco_tiny/")


PARTS = ("model", "preprocessing", "masking", "embedding", "solve")
MODEL_PARTS = ("vision", "prefill", "decode")  # inside "model"; the rest of it is generate's own loop


def forward_kind(*args, **kwargs) -> str:
    """A language-model forward inside generate: the prefill (the prompt) or one decode step."""
    ids = kwargs.get("input_ids")
    if ids is None:
        ids = kwargs.get("inputs_embeds")
    return "decode" if ids is not None and ids.shape[1] == 1 else "prefill"


def run_one(label: str, model, model_module, processor, docs: int, manager) -> dict:
    """Evaluate the task with a loaded lmms-eval model; time the parts. Masking is building the
    masked images (image path) or the coalitions' pixel atoms and blended pixels (input path);
    preprocessing is every call of the processor or its image processor."""
    watch = Stopwatch()
    image_processor = getattr(processor, "image_processor", processor)
    with ExitStack() as stack:
        for owner, attribute, name in (
            (model_module, "generate", "model"),
            (type(model_module), "forward", forward_kind),
            (type(model_module), "get_image_features", "vision"),
            (type(model_module.model), "get_image_features", "vision"),
            (type(processor), "__call__", "preprocessing"),
            (type(image_processor), "__call__", "preprocessing"),
            # on the base class: a sibling that overrides masked_image is one that renders its own images
            (CoalitionTask, "masked_image", "masking"),
            (CoalitionTask, "coalition_input", "masking"),
            (InputSpaceEncoder, "encode", "blending"),
            (TextEmbedder, "embed", "embedding"),
            (task_module.AttributionTask, "evaluate", "solve"),
        ):
            if not (owner is type(image_processor) and image_processor is processor and attribute == "__call__"):
                stack.enter_context(watch.wrapped(owner, attribute, name))
        start = time.perf_counter()
        simple_evaluate(model=model, tasks=[TASK], limit=docs, bootstrap_iters=0, gen_kwargs="max_new_tokens=8", task_manager=manager)
        wall = time.perf_counter() - start
    calls = watch.calls["masking"]  # one masked image or one coalition input per coalition request
    watch.totals["masking"] += watch.totals.pop("blending", 0.0)
    inside = {k: watch.totals.get(k, 0.0) for k in MODEL_PARTS}
    watch.totals["model"] += sum(inside.values())
    steps = watch.calls["decode"]
    return {"label": label, "calls": calls, "wall": wall, "decode_steps": steps, **inside, **{k: watch.totals.get(k, 0.0) for k in PARTS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=12, help="documents per configuration")
    parser.add_argument("--budget", type=int, default=64, help="model calls per document")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--masking", nargs="+", default=["input", "image"], choices=["input", "image"], help="pixelshap_hf masking paths")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pixelshap-bench-"))
    coco = shared_data() / "coco_tiny"
    build_coco_set(coco / "annotations" / "instances_val2017.json", coco / "val2017").save(work / "data" / "coco")
    os.environ["PIXELSHAP_DATA_DIR"] = str(work / "data")
    os.environ["PIXELSHAP_CONFIG"] = f"budget={args.budget},max_players=8,heatmaps=false"
    model_dir = save_tiny_model("llava", work / "model")
    embedder = EMBEDDERS.get(None)  # the pool the tasks take their embedder from
    embedder.embed(["warm up"])  # load outside the timings

    rows = []
    from lmms_eval.models.chat.llava_hf import LlavaHf
    from lmms_eval.tasks import TaskManager

    manager = TaskManager()  # lmms-eval indexes ~3,000 task YAMLs: a fixed cost per run, kept out of the timings

    bundled = LlavaHf(pretrained=str(model_dir), device="cpu", device_map="cpu", dtype="float32", batch_size=1)
    rows.append(run_one("llava_hf (bundled), batch 1", bundled, bundled._model, bundled._image_processor, args.docs, manager))
    for batch_size in args.batch_sizes:
        for masking in args.masking:
            ours = PixelShapHF(pretrained=str(model_dir), device="cpu", dtype="float32", batch_size=batch_size, masking=masking)
            label = f"pixelshap_hf masking={masking}, batch {batch_size}"
            rows.append(run_one(label, ours, ours.runner.model, ours.runner.processor, args.docs, manager))

    baseline = rows[0]["calls"] / rows[0]["wall"]
    print(f"\n{args.docs} documents x up to {args.budget} coalitions, tiny random LLaVA, CPU threads: {os.cpu_count()}\n")
    print("Shares of wall time: model = generate; preprocessing = the HF processor; masking = building the")
    print("masked images or the coalitions' input-space pixels; embedding = answer embeddings; solve = Shapley solve + metrics; rest = lmms-eval and")
    print("task bookkeeping (loading the task, building requests, routing, collating, aggregation).\n")
    print("| path | coalitions | wall s | coalitions/s | vs llava_hf | model % | preprocessing % | masking % | embedding % | solve % | rest % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        rate = row["calls"] / row["wall"]
        shares = {k: 100 * row[k] / row["wall"] for k in PARTS}
        rest = 100 - sum(shares.values())
        cells = " | ".join(f"{shares[k]:.0f}" for k in PARTS)
        print(f"| {row['label']} | {row['calls']} | {row['wall']:.1f} | {rate:.1f} | {rate / baseline:.2f}x | {cells} | {rest:.0f} |")
    print("\nInside the model's share (% of wall time; generate = its own work between the forwards), and decode forwards:\n")
    print("| path | vision % | prefill % | decode % | generate % | decode forwards | s per decode forward |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        inside = {k: 100 * row[k] / row["wall"] for k in MODEL_PARTS}
        loop = 100 * row["model"] / row["wall"] - sum(inside.values())
        per_step = row["decode"] / row["decode_steps"] if row["decode_steps"] else 0.0
        cells = " | ".join(f"{inside[k]:.0f}" for k in MODEL_PARTS)
        print(f"| {row['label']} | {cells} | {loop:.0f} | {row['decode_steps']} | {per_step:.4f} |")


if __name__ == "__main__":
    main()
