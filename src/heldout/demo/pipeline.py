"""``heldout demo``: Fashion-MNIST-V2 built and analysed through every stage, on real images.

Each stage is one function over the library, the same calls a user's commands make; none goes
around a stage. A stage runs inside a ``demo-<stage>`` run record whose ``counts`` hold its
summary, so a second run finds the finished stages in the catalog and reuses them (a stage that
failed or was interrupted runs again; the library stages it calls are resumable themselves).

Stages: 1 project, 2 data (reference + candidates + contamination, ingest), 3 crowd (grid tasks,
simulated crowd over HTTP), 4 aggregate, 5 dedup, 6 sampling, 7 review, 8 release + verify,
9 evaluate, 10 analysis. Each has a time budget; the summary prints the time each took.
"""

from __future__ import annotations

import html
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select

from heldout.aggregate import DawidSkene, SelectionFrequency, aggregate, measure_workers
from heldout.analysis import analyze, shift_check, write_report
from heldout.atomic import write_atomic
from heldout.catalog import Dataset, Image, Run
from heldout.collect import FolderSource, IdxSource, collect
from heldout.collect.reference import add_reference
from heldout.config import CONFIG_FILE, ProjectConfig
from heldout.crowd.tasks import build_grid_tasks
from heldout.datasets import load_dataset
from heldout.datasets.folders import match_folder
from heldout.datasets.manifest import Manifest
from heldout.datasets.release import release
from heldout.datasets.testset import TestSet
from heldout.datasets.verify import verify
from heldout.dedup.calibrate import calibrate
from heldout.dedup.components import resolve
from heldout.dedup.neighbours import find_neighbours
from heldout.dedup.review import record_review, review_queue
from heldout.demo.classifiers import as_model, train_classifiers
from heldout.demo.crowd import CrowdSettings, run_crowd, truth_table
from heldout.demo.fashion import (
    DEFAULT_SIZES,
    NEAR_KINDS,
    SMALL_SIZES,
    DemoData,
    DemoSizes,
    SourceFiles,
    find_fashion_mnist,
    load_fashion_mnist,
    png_bytes,
    split_demo_data,
    write_sources,
)
from heldout.errors import ConfigError
from heldout.evaluate import evaluate, load_predictions, write_results
from heldout.evaluate.runner import run_models
from heldout.ingest import ingest
from heldout.project import Project
from heldout.review import accept
from heldout.sampling import MatchedFrequency, SamplingStrategy, Threshold, TopImages, sample

__all__ = ["STAGES", "DemoOptions", "DemoSummary", "StageResult", "run_pipeline"]

Progress = Callable[[int, int | None], None]
ProgressFactory = Callable[[str], AbstractContextManager[Progress]]
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    """What ``heldout demo`` was asked for."""

    out: Path = Path("fashion-mnist-v2")
    small: bool = False
    fashion_mnist: Path | None = None
    seed: int = 0

    @property
    def sizes(self) -> DemoSizes:
        return SMALL_SIZES if self.small else DEFAULT_SIZES

    @property
    def project_dir(self) -> Path:
        return self.out / "project"


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome: its summary, how long it took, its budget, and whether it was reused."""

    number: int
    name: str
    summary: dict[str, Any]
    seconds: float
    budget_s: float
    reused: bool


@dataclass
class DemoSummary:
    """Every stage's result (the analysis stage's names the report)."""

    stages: list[StageResult] = field(default_factory=list)

    def stage(self, name: str) -> dict[str, Any]:
        return next((s.summary for s in self.stages if s.name == name), {})

    def findings(self) -> list[str]:
        """The lines the demo ends with: how the crowd was simulated, what was found, where the
        report is."""
        lines = []
        if crowd := self.stage("crowd"):
            lines.append(crowd["simulated"])
        if dedup := self.stage("dedup"):
            lines.append(f"dedup: exact copies removed {dedup['exact']}, near copies removed {dedup['near']}")
        if evaluation := self.stage("evaluate"):
            accuracies = evaluation["top1"][ORIGINAL].values()
            lines.append(
                f"{evaluation['models']} classifiers, top-1 on the original test set "
                f"{min(accuracies):.1f} .. {max(accuracies):.1f} %"
            )
        for name, variant in self.stage("analysis").get("variants", {}).items():
            low, high = variant["interval"]
            lines.append(
                f"{name}: average drop {variant['average_drop']:.2f} points (95 % interval {low:.2f} .. {high:.2f})"
            )
        if analysis := self.stage("analysis"):
            lines.append(f"report: {analysis['report']}")
        return lines


class _Context:
    """What stages share: the options, the project, the data split (made lazily, deterministic)."""

    def __init__(self, options: DemoOptions, say: Say, progress: ProgressFactory):
        self.options, self.say, self.progress = options, say, progress
        self.project: Project | None = None
        self._data: DemoData | None = None

    @property
    def data(self) -> DemoData:
        if self._data is None:
            from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

            source = load_fashion_mnist(self.options.fashion_mnist)
            self._data = split_demo_data(
                source,
                self.options.sizes,
                self.open().classes,
                seed=self.options.seed,
                digits=load_digits().images,
            )
        return self._data

    def open(self) -> Project:
        if self.project is None:
            self.project = Project.open(self.options.project_dir)
        return self.project

    @property
    def sources(self) -> SourceFiles:
        return write_sources(self.data, self.open().classes, self.options.out / "sources")


StageFunction = Callable[[_Context], dict[str, Any]]


def stage_project(ctx: _Context) -> dict[str, Any]:
    """1. A project for Fashion-MNIST's 10 classes; 28 px images are accepted (min side 16 px)."""
    root = ctx.options.project_dir
    if not (root / CONFIG_FILE).is_file():
        Project.create(root, classes="fashion-mnist", name="fashion-mnist-v2").close()
        config = ProjectConfig.load(root / CONFIG_FILE)
        images = config.images.model_copy(update={"min_side_px": 16})
        config.model_copy(update={"images": images}).save(root / CONFIG_FILE)
    project = ctx.open()
    return {"root": str(project.root), "classes": len(project.classes), "catalog": project.config.catalog_url}


def stage_data(ctx: _Context) -> dict[str, Any]:
    """2. Reference (test split) and candidates (held-out training images + contamination), one
    ingest path for all, so both get the same renditions."""
    project, files = ctx.open(), ctx.sources
    added = add_reference(project, split="test", folder=files.reference)
    pool = collect(project, IdxSource(files.pool_images, files.pool_labels))
    junk = collect(project, FolderSource(files.contamination))
    with ctx.progress("2 ingest") as progress:
        report = ingest(project, progress=progress)
    if report.bad or report.failed:
        raise ConfigError(f"ingest rejected {report.bad + report.failed} demo images: {report.reasons}")
    kinds: dict[str, int] = {}
    for item in ctx.data.contamination:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
    return {
        "reference": added,
        "pool": pool.added,
        "contamination": junk.added,
        "contamination_kinds": kinds,
        "stored": report.stored,
        "train": len(ctx.data.train_index),
    }


def stage_crowd(ctx: _Context) -> dict[str, Any]:
    """3. Grid tasks with controls from the reference set, answered by the simulated crowd
    through the real web app."""
    project, sizes = ctx.open(), ctx.options.sizes
    tasks = build_grid_tasks(
        project,
        seed=ctx.options.seed,
        assignments=sizes.assignments,
        min_answers=sizes.assignments,
        reference_split="test",
    )
    truth = truth_table(_truth_items(ctx), jpeg_quality=project.config.images.jpeg_quality)
    settings = CrowdSettings(workers=max(20, 4 * sizes.assignments), seed=ctx.options.seed)
    with ctx.progress("3 simulated crowd (assignments)") as progress:
        report = run_crowd(project.root, project.classes, truth, settings=settings, progress=progress)
    description = report.describe(settings)
    ctx.say(description)
    return {
        "tasks": len(tasks),
        "assignments": report.assignments,
        "workers": report.workers,
        "paused_workers": report.paused_workers,
        "images_loaded": report.images_loaded,
        "unknown_images": report.unknown_images,
        "crowd_accuracy": round(report.accuracy, 4),
        "simulated": description,
    }


def stage_aggregate(ctx: _Context) -> dict[str, Any]:
    """4. Selection frequencies, Dawid–Skene scores and the worker quality table."""
    project = ctx.open()
    frequency = aggregate(project, SelectionFrequency())
    ds = aggregate(project, DawidSkene())
    quality = measure_workers(project)
    rows = quality.to_rows()
    path = ctx.options.out / "workers.json"
    path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return {
        "questions": int(len(frequency.question_ids)),
        "frequency_positive": int((frequency.scores >= 0.7).sum()),
        "dawid_skene_positive": int((ds.scores > 0.5).sum()),
        "workers": len(quality),
        "likely_spammers": int(quality.is_likely_spammer.sum()),
        "median_worker_accuracy": float(np.nanmedian(quality.accuracy)),
        "worker_table": str(path),
    }


DEDUP_METRICS = ("l2", "efficientnet-lite0")
"""Pixel and CNN neighbours, searched over everything; DSSIM then re-measures their shortlist."""
DSSIM_SHORTLIST_DEPTH = 3
"""DSSIM over each candidate's class and its five most similar ones would be 60 % of Fashion-MNIST
(six of ten classes); the demo measures each candidate's first three pixel and three CNN
neighbours instead (at most six pairs per candidate, ~3.7 ms each on 2 cores)."""
REVIEWER = "heldout-demo"
AUTOMATIC_REVIEWER = "heldout-demo-automatic"
DATASET = "fashion-mnist-v2"
ORIGINAL = "fashion-mnist-test"
SHIFT_COMPONENTS = 50


def stage_dedup(ctx: _Context) -> dict[str, Any]:
    """5. Pixel and CNN neighbours against the reference set and within the pool, DSSIM on their
    shortlist, review thresholds calibrated on synthetic near copies, an automatic review of the
    whole queue, and the resolution; then how many injected copies were caught."""
    project = ctx.open()
    calibrated = {}
    for metric in DEDUP_METRICS:
        with ctx.progress(f"5 neighbours ({metric})") as progress:
            find_neighbours(project, metric, against="both", progress=progress)
        calibrated[metric] = _calibrated(ctx, metric)
    with ctx.progress("5 DSSIM on the shortlist") as progress:
        find_neighbours(
            project,
            "dssim",
            against="both",
            shortlist=DEDUP_METRICS,
            shortlist_depth=DSSIM_SHORTLIST_DEPTH,
            progress=progress,
        )
    calibrated["dssim"] = _calibrated(ctx, "dssim")
    origin = _origins(ctx)
    reviewed = ticked = 0
    for item in review_queue(project):
        same = origin.get(item.image_id, item.image_id)
        duplicates = [n for n in item.neighbour_ids if origin.get(n, n) == same]
        record_review(project, item.image_id, item.metric, item.neighbour_ids, duplicates, AUTOMATIC_REVIEWER)
        reviewed, ticked = reviewed + 1, ticked + len(duplicates)
    components = resolve(project)
    removed = set(components.ids[components.status == "reference"].tolist())
    removed |= set(components.ids[components.status == "duplicate"].tolist())
    caught = _caught(ctx, removed)
    ctx.say(
        f"dedup (l2, CNN, and DSSIM on their first {DSSIM_SHORTLIST_DEPTH} neighbours each). The review is "
        f"SIMULATED: the reviewer looks at every pair the thresholds put in the queue ({reviewed} candidate "
        "rows) and, like the simulated crowd, knows from the source data which images come from the same "
        f"original; exact copies found {caught['exact']}, near copies found {caught['near']}"
    )
    return {"thresholds": calibrated, "reviewed": reviewed, "duplicate_pairs": ticked, **caught}


def _contamination(ctx: _Context) -> dict[str, dict[str, Any]]:
    """What was injected: candidate id -> kind and the reference image it copies (or None)."""
    return json.loads((ctx.options.out / "sources" / "contamination.json").read_text(encoding="utf-8"))


def _origins(ctx: _Context) -> dict[str, str]:
    """The simulated reviewer's knowledge: each injected copy's original (reference) image; every
    other image is its own original."""
    manifest = _contamination(ctx)
    return {image_id: entry["copy_of"] for image_id, entry in manifest.items() if entry["copy_of"]}


def _calibrated(ctx: _Context, metric: str) -> float:
    """The metric's review threshold, calibrated on synthetic near copies of the demo's own images
    (95 % of them at or under it) and stored for the review."""
    calibration = calibrate(ctx.open(), metric, images=20 if ctx.options.small else 50, seed=ctx.options.seed)
    return round(calibration.threshold, 6)


def _caught(ctx: _Context, removed: set[str]) -> dict[str, Any]:
    """Share of the injected exact and near copies that the resolution removes."""
    manifest = _contamination(ctx)
    out: dict[str, Any] = {}
    for name, kinds in (("exact", ("exact",)), ("near", NEAR_KINDS)):
        ids = [i for i, entry in manifest.items() if entry["kind"] in kinds]
        found = sum(i in removed for i in ids)
        out[name] = f"{found}/{len(ids)}"
        out[f"{name}_recall"] = round(found / max(1, len(ids)), 4)
    return out


def _strategies(ctx: _Context) -> dict[str, SamplingStrategy]:
    """The three ImageNetV2 rules, with the demo's answer count (``assignments`` per image)."""
    n = ctx.options.sizes.assignments
    return {
        "a": Threshold(min_annotations=n),
        "b": MatchedFrequency(min_annotations=n, min_reference_annotations=n, min_reference_images=5),
        "c": TopImages(min_annotations=n),
    }


def stage_sampling(ctx: _Context) -> dict[str, Any]:
    """6. All three variants, seeded; the exclusion report says what kept candidates out."""
    project, per_class = ctx.open(), ctx.options.sizes.per_class
    out, existing = {}, set(_set_names(ctx))
    for letter, strategy in _strategies(ctx).items():
        if f"{DATASET}-{letter}-0" in existing:  # an interrupted earlier run sampled it already
            continue
        result = sample(
            project,
            strategy,
            name=DATASET,
            seed=ctx.options.seed,
            per_class=per_class,
        )
        out[letter] = {
            "name": result.name,
            "images": len(result.manifest),
            "valid": result.is_valid,
            "short_classes": [s.class_key for s in result.shortfalls],
            "excluded": dict(result.excluded),
        }
        reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in result.excluded.items() if n)
        ctx.say(f"{result.name}: {len(result.manifest)} images; candidates excluded: {reasons or 'none'}")
    return {"per_class": per_class, "sets": out}


def stage_review(ctx: _Context) -> dict[str, Any]:
    """7. The final review: the demo accepts every class automatically (a person would use the
    review pages of ``heldout serve``)."""
    project, sets = ctx.open(), _set_names(ctx)
    accepted = {name: len(accept(project, name, REVIEWER)) for name in sets}
    ctx.say(
        f"review: accepted automatically as auto:{REVIEWER} (open /admin/review in `heldout serve` to look)"
    )
    return {"accepted_classes": accepted, "reviewer": f"auto:{REVIEWER}"}


def stage_release(ctx: _Context) -> dict[str, Any]:
    """8. Release each set as a folder and verify it against its checksums."""
    project, out = ctx.open(), {}
    for name in _set_names(ctx):
        folder = ctx.options.out / "releases" / name
        if not (folder / "SHA256SUMS").is_file():
            # Fashion-MNIST is MIT-licensed; IDX and folder sources record no license ("unknown")
            release(project, name, folder, formats=("tar.gz",), licenses=("unknown",))
        report = verify(folder)
        if not report.ok:
            raise ConfigError(f"the release {name} does not verify: {report.summary()}", where=folder)
        out[name] = {"files": report.files, "verified": report.ok, "folder": str(folder)}
    return {"releases": out}


def stage_evaluate(ctx: _Context) -> dict[str, Any]:
    """9. Train the classifiers on the training part; run each through heldout's model runner on
    the original test set and the three new sets, all read as the same 500 px renditions; the
    top-5 predictions go to ``predictions/<set>/<model>.npy`` (the published layout)."""
    x, y = ctx.data.train
    with ctx.progress("9 training classifiers") as progress:
        trained = train_classifiers(
            x, y, seed=ctx.options.seed, cnn_epochs=ctx.options.sizes.cnn_epochs, progress=progress
        )
    sets = _test_sets(ctx)
    adapters = [as_model(model) for model in trained]
    results = []
    with ctx.progress("9 evaluating (sets)") as progress:
        for number, (name, (testset, paths)) in enumerate(sets.items()):
            outputs = run_models(
                adapters,
                paths,
                testset.ids,
                images_digest=testset.sha256,
                batch_size=256,  # few large batches: scikit-learn's per-call overhead dominates small ones
                cache=ctx.options.out / "cache",
            )
            for model, output in zip(trained, outputs, strict=True):
                top5 = np.argsort(-output.logits, axis=1, kind="stable")[:, :5].astype(np.uint16)
                buffer = io.BytesIO()
                np.save(buffer, top5)
                write_atomic(ctx.options.out / "predictions" / name / f"{model.name}.npy", buffer.getvalue())
                results.append(evaluate(testset, output.predictions()))
            progress(number + 1, len(sets))
    write_results(results, csv_path=ctx.options.out / "results.csv")
    top1 = {name: {r.model: round(r["top1"], 2) for r in results if r.dataset == name} for name in sets}
    return {"models": len(trained), "top1": top1, "results": str(ctx.options.out / "results.csv")}


def stage_analysis(ctx: _Context) -> dict[str, Any]:
    """10. Accuracy on the line for each variant, the shift check (pixels, 50 principal components), and the HTML reports;
    the average drop over the models with a bootstrap interval over the test images."""
    sets = _test_sets(ctx)
    original_set, original_paths = sets[ORIGINAL]
    original_results, original_correct = _scored(ctx, ORIGINAL, original_set)
    original_pixels = _pixels(original_paths)
    folder = ctx.options.out / "report"
    variants = {}
    for name in _set_names(ctx):
        new_set, new_paths = sets[name]
        new_results, new_correct = _scored(ctx, name, new_set)
        analysis = analyze(
            original_results,
            new_results,
            correct=new_correct,
            new_testset=new_set,
            shift=shift_check(
                *_shift_features(original_pixels, _pixels(new_paths), seed=ctx.options.seed),
                seed=ctx.options.seed,
            ),
            min_original=0.0,
            resamples=200,
        )
        write_report(analysis, folder / f"{name}.html", title=f"{name} against the Fashion-MNIST test set")
        drop, low, high = average_drop(original_correct, new_correct, seed=ctx.options.seed)
        variants[name] = {
            "average_drop": drop,
            "interval": [low, high],
            "report": str(folder / f"{name}.html"),
        }
    index = write_atomic(folder / "index.html", _index_html(variants))
    return {"variants": variants, "report": str(index)}


def average_drop(
    original: dict[str, np.ndarray], new: dict[str, np.ndarray], *, seed: int, resamples: int = 1000
) -> tuple[float, float, float]:
    """Mean over models of (original - new) top-1 accuracy in points, and a 95 % percentile
    bootstrap interval that resamples the images of both sets (the models stay paired)."""
    models = sorted(set(original) & set(new))
    a = np.stack([original[m] for m in models]).astype(np.float64)
    b = np.stack([new[m] for m in models]).astype(np.float64)
    rng = np.random.default_rng(seed)
    rows_a = rng.integers(a.shape[1], size=(resamples, a.shape[1]))
    rows_b = rng.integers(b.shape[1], size=(resamples, b.shape[1]))
    mean_a = a.mean(axis=0)[rows_a].mean(axis=1)  # mean over models, then over resampled images
    mean_b = b.mean(axis=0)[rows_b].mean(axis=1)
    drops = 100.0 * (mean_a - mean_b)
    low, high = np.percentile(drops, [2.5, 97.5])
    return round(100.0 * float(a.mean() - b.mean()), 2), round(float(low), 2), round(float(high), 2)


STAGES: tuple[tuple[str, StageFunction, float, float], ...] = (
    ("project", stage_project, 5, 5),
    ("data", stage_data, 60, 15),
    ("crowd", stage_crowd, 90, 45),
    ("aggregate", stage_aggregate, 5, 5),
    ("dedup", stage_dedup, 300, 90),
    ("sampling", stage_sampling, 5, 5),
    ("review", stage_review, 5, 5),
    ("release", stage_release, 15, 10),
    ("evaluate", stage_evaluate, 90, 45),
    ("analysis", stage_analysis, 20, 10),
)
"""(name, function, budget in seconds by default, budget with ``--small``)."""


def run_pipeline(
    options: DemoOptions,
    *,
    say: Say = print,
    progress: ProgressFactory | None = None,
) -> DemoSummary:
    """Run (or resume) every stage; returns their results."""
    find_fashion_mnist(options.fashion_mnist)  # say how to get it before anything is written
    ctx = _Context(options, say, progress or (lambda _: nullcontext(lambda *_: None)))
    options.out.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary()
    try:
        for number, (name, function, budget, small_budget) in enumerate(STAGES, start=1):
            result = _run_stage(ctx, number, name, function, small_budget if options.small else budget)
            summary.stages.append(result)
            say(f"{number:>2}. {name}: {'reused' if result.reused else f'{result.seconds:.1f} s'}")
    finally:
        if ctx.project is not None:
            ctx.project.close()
    return summary


def _run_stage(ctx: _Context, number: int, name: str, function: StageFunction, budget: float) -> StageResult:
    stage = f"demo-{name}"
    if (ctx.options.project_dir / CONFIG_FILE).is_file():
        done = _finished(ctx.open(), stage)
        if done is not None:
            return StageResult(number, name, done[0], done[1], budget, True)
    started = time.perf_counter()
    if name == "project":
        summary = function(ctx)
        with ctx.open().run(stage, {"small": ctx.options.small}, seed=ctx.options.seed) as run:
            run.counts.update(summary)
    else:
        with ctx.open().run(stage, {"small": ctx.options.small}, seed=ctx.options.seed) as run:
            run.counts.update(function(ctx))
            summary = dict(run.counts)
    return StageResult(number, name, summary, time.perf_counter() - started, budget, False)


def _finished(project: Project, stage: str) -> tuple[dict[str, Any], float] | None:
    """The summary and duration (seconds) of the latest finished run of ``stage``, or None."""
    with project.transaction() as session:
        row = session.scalars(
            select(Run).where(Run.stage == stage, Run.status == "done").order_by(Run.run_id.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return dict(row.counts), (row.finished_at - row.started_at).total_seconds()


def _set_names(ctx: _Context) -> list[str]:
    """The demo's sampled sets in the catalog (revision 0 of each variant)."""
    wanted = [f"{DATASET}-{letter}-0" for letter in ("a", "b", "c")]
    with ctx.open().transaction() as session:
        present = set(session.scalars(select(Dataset.name).where(Dataset.name.in_(wanted))))
    return [name for name in wanted if name in present]


def _original_set(ctx: _Context) -> tuple[TestSet, list[str]]:
    """The reference images (the original test set) as a test set over their stored 500 px
    renditions, the same files the releases hold, so models see both through one path."""
    project = ctx.open()
    with project.transaction() as session:
        rows = session.execute(
            select(Image.image_id, Image.class_key)
            .where(Image.role == "reference", Image.status == "stored")
            .order_by(Image.image_id)
        ).all()
    folder = ctx.options.out / "original"
    paths = []
    for image_id, class_key in rows:
        path = folder / str(project.classes.index(class_key)) / f"{Path(image_id).stem}.jpeg"
        if not path.is_file():
            write_atomic(path, project.images.bytes(image_id, "500"))
        paths.append(str(path))
    manifest = Manifest(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), source=str(folder))
    return TestSet(ORIGINAL, manifest, project.classes), paths


def _released_set(ctx: _Context, name: str) -> tuple[TestSet, list[str]]:
    folder = ctx.options.out / "releases" / name
    testset = load_dataset(folder)
    return testset, match_folder(folder / "images", testset).paths.tolist()


def _test_sets(ctx: _Context) -> dict[str, tuple[TestSet, list[str]]]:
    return {ORIGINAL: _original_set(ctx)} | {name: _released_set(ctx, name) for name in _set_names(ctx)}


def _scored(ctx: _Context, name: str, testset: TestSet) -> tuple[list, dict[str, np.ndarray]]:
    """Every model's result on ``name`` from its saved predictions, and its per-image top-1 hits."""
    results, correct = [], {}
    for path in sorted((ctx.options.out / "predictions" / name).glob("*.npy")):
        predictions = load_predictions(path)
        result = evaluate(testset, predictions)
        results.append(replace(result, dataset=name))
        correct[result.model] = predictions.ranked[:, 0] == testset.labels
    return results, correct


def _pixels(paths: list[str]) -> np.ndarray:
    """28 x 28 grayscale pixels of each image file: the shift check's features. JPEG's draft mode
    decodes the 500 px files at an eighth of their size (both sets alike), ten times faster."""

    def pixels(path: str) -> np.ndarray:
        with PILImage.open(path) as image:
            image.draft("L", (56, 56))
            return np.asarray(image.convert("L").resize((28, 28), PILImage.Resampling.BILINEAR)).reshape(-1)

    with ThreadPoolExecutor(2) as pool:
        return np.stack(list(pool.map(pixels, paths))).astype(np.float32)


def _shift_features(original: np.ndarray, new: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets' pixels on the original set's first 50 principal components: the check's logistic
    regression converges in seconds there instead of a minute on 784 pixels, and keeps the
    directions along which the images vary."""
    from sklearn.decomposition import PCA

    pca = PCA(SHIFT_COMPONENTS, random_state=seed).fit(original)
    return pca.transform(original), pca.transform(new)


def _index_html(variants: dict[str, dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td><a href="{html.escape(Path(v["report"]).name)}">{html.escape(name)}</a></td>'
        f"<td>{v['average_drop']:.2f}</td><td>{v['interval'][0]:.2f} .. {v['interval'][1]:.2f}</td></tr>"
        for name, v in variants.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fashion-MNIST-V2</title></head>'
        "<body><h1>Fashion-MNIST-V2: the demo's report</h1>"
        "<p>The crowd that labelled these sets was <strong>simulated</strong> (real ReaL raters' behaviour) "
        "and answered through the real web app.</p>"
        "<table><tr><th>new test set</th><th>average drop (points)</th><th>95 % interval</th></tr>"
        f"{rows}</table></body></html>\n"
    )


def _truth_items(ctx: _Context):
    """(source bytes, true class or None) of every image the crowd could be shown."""
    data, classes = ctx.data, ctx.open().classes
    images, labels = data.source.test_images, data.source.test_labels
    for index in data.reference_index.tolist():
        yield png_bytes(images[index]), str(classes.ids[labels[index]])
    for index in data.pool_index.tolist():
        yield png_bytes(data.source.train_images[index]), str(classes.ids[data.source.train_labels[index]])
    for item in data.contamination:
        yield item.data, (item.class_key if item.is_copy else None)
