"""Location priors against nearest neighbours: the table of docs/results/location_priors.md.

Data: GeoNames cities >= 15,000 inhabitants (``country``, ``timezone``, ``continent``; classes with fewer
than ``--min_per_class`` cities dropped) and the ``ariolimax`` presence/background points (AUC of
P(presence)). One seeded stratified split: 80 % train / 20 % test (seed 0, the test split is fixed). For
every label ratio and seed, a stratified subset of the training split (``round(n_c · ratio)``, at least one
per class) is split again into fit (80 %) and validation (20 %, :func:`trainer.data.splits.carve_validation`):
**everything is chosen on that validation part, nothing on the test split.** Rows:

* 1-NN and k-NN — haversine, k-NN weighted by 1/distance with k chosen on validation
  (:mod:`trainer.evaluation.nearest_neighbour`); both vote with all labelled points of the subset;
* kNN prior — the shippable soft vote of the k nearest (:mod:`qgis_csp_plugin.contract.knn_prior`; k,
  sharpness, bandwidth and flat pseudo-count chosen on validation, then the points of the whole subset);
* random init — sphereC+ (32 scales, λmin 0.1°) → MLP → softmax (``prior``'s architecture), trained to
  convergence: epochs until ``--patience`` epochs without a lower validation log-loss, best weights kept;
  learning rate and schedule chosen on the validation part of seed 0 of each task and ratio (:data:`SCHEDULES`);
* CSP init — the same from ``--csp_checkpoint``'s encoder weights, one phase;
* CSP fine-tuned — frozen phase (a logistic-regression head on the frozen CSP embeddings) then the whole
  model with a 10× smaller head and 100× smaller encoder learning rate;
* GeoCLIP probe — the frozen phase alone on GeoCLIP's embeddings (computed once per point);
* GeoCLIP fine-tuned — the probe, then unfrozen like CSP, capped at :data:`GEOCLIP_EPOCHS` epochs per ratio;
* hybrid — m · kNN prior + (1 − m) · learned (random init, or GeoCLIP fine-tuned), m in 0.1 … 0.9 chosen by
  validation log-loss;
* default rule — what ``python -m trainer prior`` ships: m in 0 … 1 (0 = learned, 1 = kNN prior).

Top-1/top-3 (AUC for ariolimax) on the test split, mean and 95 % CI (t) over seeds; CSV + Markdown, the
training curve of one run, and the distances that set the finest label structure (λmin check). One
process per task may run in parallel; ``--merge`` joins their CSVs:

    nice -n 10 .venv/bin/python scripts/location_prior_table.py \
        --csp_checkpoint runs/csp_eurosat/checkpoints/last.ckpt --tasks country --out runs/lpt/country
    .venv/bin/python scripts/location_prior_table.py --merge runs/lpt/{country,timezone,continent,ariolimax}.csv \
        --out docs/results/location_priors
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import BallTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qgis_csp_plugin.contract.knn_prior import (  # noqa: E402
    MIX_WEIGHTS,
    KnnPrior,
    log_loss,
    recipe_of_mix,
    select_knn_prior,
    select_mix,
)
from trainer.data.catalog import cities_records  # noqa: E402
from trainer.data.geotagged import encode_labels  # noqa: E402
from trainer.data.points import point_records, point_tensors  # noqa: E402
from trainer.data.splits import carve_validation, label_subset, split_records  # noqa: E402
from trainer.encoders import build_location_encoder  # noqa: E402
from trainer.evaluation.few_label import FewLabelSetup, fit_location_classifier, topk_accuracy, torch_quiet  # noqa: E402
from trainer.evaluation.nearest_neighbour import choose_k, knn_probabilities  # noqa: E402
from trainer.pretrained.geoclip_import import embed  # noqa: E402
from trainer.pretrained.geoclip_release import encoder_from_state, find_release, load_state  # noqa: E402
from trainer.tasks.location_classifier import csp_encoder_state  # noqa: E402

CITY_LABELS = {"country": "country_code", "timezone": "timezone", "continent": "continent_name"}
TASKS = (*CITY_LABELS, "ariolimax")
CSP_ARCHITECTURE = {"frequency_num": 32, "min_radius": 0.1, "max_radius": 360.0, "hidden_dim": 256,
                    "num_hidden_layers": 1, "out_dim": 128, "dropout": 0.5, "activation": "leaky_relu"}
#: (learning rate, schedule) candidates chosen on validation; fewer with all labels (compute).
SCHEDULES = {0.01: ((1e-3, "plateau"), (3e-3, "plateau"), (1e-2, "plateau"), (3e-3, "cosine")),
             0.05: ((1e-3, "plateau"), (3e-3, "plateau"), (1e-2, "plateau"), (3e-3, "cosine")),
             1.0: ((1e-3, "plateau"), (3e-3, "plateau"))}
#: Epoch caps: GeoCLIP fine-tuning (9.4 M parameters on 2 shared CPU cores) and the rest with all labels.
GEOCLIP_EPOCHS = {0.01: 30, 0.05: 10, 1.0: 1}
MAX_EPOCHS_ALL_LABELS = 60
ROW_ORDER = ("1-NN", "k-NN (k on val)", "kNN prior (k, h on val)", "random init", "CSP init", "CSP fine-tuned",
             "GeoCLIP probe", "GeoCLIP fine-tuned", "hybrid (random init + kNN prior)",
             "hybrid (GeoCLIP fine-tuned + kNN prior)", "default rule (finetune)")


def task_records(task: str, cities: pd.DataFrame, min_per_class: int) -> pd.DataFrame:
    """``lat, lon, label, class_name`` of a task (the cities' rows keep the cities' index)."""
    if task == "ariolimax":
        return point_records("ariolimax")
    frame = cities.dropna(subset=[CITY_LABELS[task]])
    counts = frame[CITY_LABELS[task]].value_counts()
    frame = frame[frame[CITY_LABELS[task]].isin(counts[counts >= min_per_class].index)]
    return encode_labels(frame, CITY_LABELS[task])[["lat", "lon", "label", "class_name"]]


def latlon(frame: pd.DataFrame) -> np.ndarray:
    return frame[["lat", "lon"]].to_numpy(np.float64)


def cached(path: Path, compute) -> np.ndarray:
    """``compute()`` once, then read back from ``path`` (.npy)."""
    if path.is_file():
        return np.load(path)
    values = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, values)
    return values


def label_distances(frame: pd.DataFrame) -> dict[str, float]:
    """Great-circle distance (degrees) from each point to the nearest point of another class: the finest
    structure the labels have, to set against the encoder's smallest wavelength."""
    tree = BallTree(np.radians(latlon(frame)), metric="haversine")
    labels = frame["label"].to_numpy()
    nearest = np.full(len(frame), np.inf)
    distance, index = tree.query(np.radians(latlon(frame)), k=min(64, len(frame)))
    other = labels[index] != labels[:, None]
    has = other.any(axis=1)
    nearest[has] = np.degrees(distance[has, other[has].argmax(axis=1)])
    nearest = nearest[np.isfinite(nearest)]
    return {f"p{q}": float(np.percentile(nearest, q)) for q in (10, 50, 90)}


class Run:
    """One task × ratio × seed: the fit/validation/test points and every row's probabilities."""

    def __init__(self, names: list[str], fit: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, seed: int) -> None:
        self.names, self.fit, self.val, self.test, self.seed = names, fit, val, test, seed
        self.subset = pd.concat([fit, val])
        self.k = len(names)
        self.notes: dict = {}

    def neighbours(self) -> dict[str, np.ndarray]:
        """1-NN and k-NN (k chosen on validation with the fit points) voting with every labelled point."""
        k, _ = choose_k(latlon(self.fit), self.fit["label"].to_numpy(), latlon(self.val), self.val["label"].to_numpy(),
                        self.k)
        self.notes["k"] = k
        every = latlon(self.subset), self.subset["label"].to_numpy()
        return {"1-NN": knn_probabilities(*every, latlon(self.test), self.k, 1),
                "k-NN (k on val)": knn_probabilities(*every, latlon(self.test), self.k, k)}

    def kernel(self) -> tuple[np.ndarray, np.ndarray]:
        """The kNN prior's probabilities on validation (fit points) and test (every labelled point)."""
        prior, selection = select_knn_prior(latlon(self.fit), self.fit["label"].to_numpy(), self.k, latlon(self.val),
                                            self.val["label"].to_numpy())
        self.notes.update(knn_k=prior.k, sharpness=prior.sharpness, bandwidth_deg=prior.bandwidth_deg,
                          flat_count=prior.flat_count)
        final = KnnPrior(latlon(self.subset), self.subset["label"].to_numpy(), self.k, prior.k, prior.sharpness,
                         prior.bandwidth_deg, prior.flat_count)
        return prior.probabilities(latlon(self.val)), final.probabilities(latlon(self.test))

    def learned(self, setup: FewLabelSetup, name: str, max_epochs: int | None = None, curve: list | None = None,
                prepare=None, **options) -> tuple[np.ndarray, np.ndarray]:
        """Validation and test probabilities of a location classifier trained on the fit points."""
        task, best = fit_location_classifier(self.fit, self.val, self.names, setup, self.seed, prepare,
                                             max_epochs=max_epochs, **options)
        if curve is not None:
            curve.extend(best.history)
        self.notes.setdefault("best_epoch/epochs", {})[name] = [best.best_epoch, len(best.history)]
        points = lambda frame: point_tensors(frame).tensors[0]  # noqa: E731
        return (task.predict_proba(points(self.val)).double().numpy(),
                task.predict_proba(points(self.test)).double().numpy())

    def probe(self, embeddings: np.ndarray, out: dict | None = None):
        """``prepare`` of :func:`fit_location_classifier`: the frozen phase fitted on cached ``embeddings`` (by
        record index); ``out`` receives the probe's own validation and test probabilities."""
        def prepare(task) -> None:
            task.init_head_from_probe(embeddings[self.fit.index], self.fit["label"].to_numpy(), seed=self.seed)
            if out is not None:
                with torch.no_grad():
                    for split, frame in (("val", self.val), ("test", self.test)):
                        x = torch.from_numpy(embeddings[frame.index]).float()
                        out[split] = torch.softmax(task.head(task.standardise(x)), dim=1).double().numpy()
        return prepare


def choose_schedule(run: Run, setup: FewLabelSetup, candidates) -> tuple[FewLabelSetup, dict]:
    """The (learning rate, schedule) of ``candidates`` with the lowest validation log-loss."""
    losses = {}
    for lr, schedule in candidates:
        p_val, _ = run.learned(replace(setup, lr=lr, lr_schedule=schedule), f"lr {lr:g} {schedule}")
        losses[(lr, schedule)] = log_loss(p_val, run.val["label"].to_numpy())
    lr, schedule = min(losses, key=losses.get)
    return replace(setup, lr=lr, lr_schedule=schedule), {f"{a:g} {b}": round(v, 4) for (a, b), v in losses.items()}


def scores(p: np.ndarray, labels: np.ndarray, binary: bool) -> dict[str, float]:
    if binary:
        return {"auc": float(roc_auc_score(labels, p[:, 1])), "top1": topk_accuracy(p, labels, 1)}
    return {"top1": topk_accuracy(p, labels, 1), "top3": topk_accuracy(p, labels, 3)}


def evaluate(args, task: str, ratio: float, seed: int, names, parts, embeddings: dict[str, np.ndarray],
             setups: dict, curves: dict) -> list[dict]:
    subset = label_subset(parts["train"], ratio, seed)
    split = carve_validation(subset, 0.2, seed)
    run = Run(names, split["train"], split["val"], parts["test"], seed)
    val_labels, test_labels = run.val["label"].to_numpy(), run.test["label"].to_numpy()
    test = run.neighbours()
    val_knn, test["kNN prior (k, h on val)"] = run.kernel()
    base = FewLabelSetup(location_encoder="sphereC+", encoder_params=CSP_ARCHITECTURE, batch_size=None,
                         max_epochs=args.max_epochs if ratio < 1 else MAX_EPOCHS_ALL_LABELS, patience=args.patience)
    if (task, ratio) not in setups:  # chosen on seed 0's validation part, kept for the other seeds
        setups[task, ratio] = choose_schedule(run, base, SCHEDULES.get(ratio, SCHEDULES[1.0]))
    setup, _ = setups[task, ratio]
    run.notes.update(lr=setup.lr, schedule=setup.lr_schedule)
    curve = curves.setdefault(f"{task} {ratio:g} seed {seed}", []) if (task, ratio, seed) == args.curve else None
    val_random, test["random init"] = run.learned(setup, "random init", curve=curve)
    slow = replace(setup, lr=setup.lr / 10, encoder_lr=setup.lr / 100)  # second phase after the frozen one
    if args.csp_checkpoint:
        _, test["CSP init"] = run.learned(setup, "CSP init", csp_checkpoint=args.csp_checkpoint)
        _, test["CSP fine-tuned"] = run.learned(slow, "CSP fine-tuned", csp_checkpoint=args.csp_checkpoint,
                                                probe_init=True, prepare=run.probe(embeddings["csp"]))
    probe: dict[str, np.ndarray] = {}
    val_geoclip, test["GeoCLIP fine-tuned"] = run.learned(
        slow, "GeoCLIP fine-tuned", max_epochs=GEOCLIP_EPOCHS.get(ratio, 1), pretrained_encoder="geoclip",
        probe_init=True, prepare=run.probe(embeddings["geoclip"], probe))
    test["GeoCLIP probe"] = probe["test"]
    interior = [m for m in MIX_WEIGHTS if 0 < m < 1]
    for name, val_learned in (("random init", val_random), ("GeoCLIP fine-tuned", val_geoclip)):
        m, _ = select_mix(val_knn, val_learned, val_labels, interior)
        test[f"hybrid ({name} + kNN prior)"] = m * test["kNN prior (k, h on val)"] + (1 - m) * test[name]
        run.notes[f"mix {name}"] = m
    m, _ = select_mix(val_knn, val_random, val_labels, MIX_WEIGHTS)
    test["default rule (finetune)"] = m * test["kNN prior (k, h on val)"] + (1 - m) * test["random init"]
    run.notes.update(default_recipe=recipe_of_mix(m), default_mix=m)
    binary = task == "ariolimax"
    return [{"task": task, "ratio": ratio, "seed": seed, "row": row, "n_train": len(subset), "n_test": len(test_labels),
             "classes": len(names), **scores(p, test_labels, binary), "notes": json.dumps(run.notes)}
            for row, p in test.items()]


def ci95(values: pd.Series) -> float:
    """Half-width of the 95 % t confidence interval of the mean (0 for one value)."""
    n = len(values)
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0


def markdown_table(frame: pd.DataFrame) -> str:
    lines = ["| task | labels | row | n labelled | classes | top-1 % (95 % CI) | top-3 % / AUC (95 % CI) | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    frame = frame.assign(task_order=frame["task"].map(TASKS.index),
                         order=frame["row"].map({row: i for i, row in enumerate(ROW_ORDER)}))
    frame = frame.sort_values(["task_order", "ratio", "order", "seed"], kind="stable")
    for (task, ratio, row), part in frame.groupby(["task", "ratio", "row"], sort=False):
        second = "auc" if task == "ariolimax" else "top3"
        lines.append(f"| {task} | {ratio:.0%} | {row} | {part['n_train'].mean():,.0f} | {part['classes'].iloc[0]} | "
                     f"{100 * part['top1'].mean():.1f} ± {100 * ci95(part['top1']):.1f} | "
                     f"{100 * part[second].mean():.1f} ± {100 * ci95(part[second]):.1f} | {len(part)} |")
    return "\n".join(lines)


def embeddings_of(args, encoder, source: str, points: np.ndarray) -> dict[str, np.ndarray]:
    """GeoCLIP (cached in ``--cache``) and CSP embeddings of every point of ``source``, in record order."""
    with torch.no_grad():
        out = {"geoclip": cached(args.cache / f"geoclip_{source}.npy", lambda: embed(encoder, points))}
        if args.csp_checkpoint:
            name, params, state = csp_encoder_state(args.csp_checkpoint)
            csp = build_location_encoder(name, **params)
            csp.load_state_dict(state)
            out["csp"] = embed(csp.eval(), points)
    return out


def paired_table(frame: pd.DataFrame, row: str = "default rule (finetune)", baseline: str = "1-NN") -> str:
    """Per task and ratio: ``row`` − ``baseline`` top-1 (points), mean and 95 % CI over the same seeds."""
    lines = [f"| task | labels | {row} − {baseline}, top-1 points (95 % CI) | seeds ≥ / < {baseline} "
             "| recipes chosen |", "|---|---|---|---|---|"]
    for (task, ratio), part in frame.groupby(["task", "ratio"], sort=False):
        wide = part.pivot(index="seed", columns="row", values="top1")
        diff = 100 * (wide[row] - wide[baseline])
        notes = part[part["row"] == row]["notes"].map(json.loads)
        recipes = ", ".join(f"{n['default_recipe']} (m {n['default_mix']:g})" for n in notes)
        lines.append(f"| {task} | {ratio:.0%} | {diff.mean():+.1f} ± {ci95(diff):.1f} | {(diff >= 0).sum()} / "
                     f"{(diff < 0).sum()} | {recipes} |")
    return "\n".join(lines)


def merge(paths: list[Path], out: Path) -> None:
    """One CSV and the Markdown tables of several runs' CSVs (e.g. one process per task)."""
    frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    frame.to_csv(out.with_suffix(".csv"), index=False)
    print(markdown_table(frame))
    print()
    print(paired_table(frame))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merge", nargs="+", type=Path, help="only merge these runs' CSVs into --out (.csv) and "
                        "print the tables")
    parser.add_argument("--csp_checkpoint", help="CSP checkpoint (python -m trainer csp fit)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--ratios", nargs="+", type=float, default=[0.01, 0.05, 1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--min_per_class", type=int, default=20)
    parser.add_argument("--max_epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--curve", nargs=3, default=["country", "1.0", "0"], help="task ratio seed of the curve")
    parser.add_argument("--cache", type=Path, default=Path("runs/location_prior_table"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/location_priors"))
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    args.curve = (args.curve[0], float(args.curve[1]), int(args.curve[2]))
    torch_quiet()
    started = time.perf_counter()
    cities = cities_records()
    encoder = encoder_from_state(load_state(find_release())).eval()
    rows, setups, curves, structure = [], {}, {}, {}
    for task in args.tasks:
        records = task_records(task, cities, args.min_per_class)
        every = records if task == "ariolimax" else cities  # records keep the cities' index
        embeddings = embeddings_of(args, encoder, "ariolimax" if task == "ariolimax" else "cities",
                                   latlon(every).astype(np.float32))
        names = [str(n) for n in records.drop_duplicates("label").sort_values("label")["class_name"]]
        parts = split_records(records, val_fraction=0.0, test_fraction=0.2, seed=0)
        structure[task] = label_distances(parts["train"])
        print(f"{task}: {len(records):,} points, {len(names)} classes, nearest other-class point (deg) "
              f"{structure[task]}", flush=True)
        for ratio in args.ratios:
            for seed in args.seeds:
                new = evaluate(args, task, ratio, seed, names, parts, embeddings, setups, curves)
                rows += new
                print(f"{task} {ratio:g} seed {seed} ({(time.perf_counter() - started) / 60:.1f} min): "
                      + ", ".join(f"{r['row']} {r['top1']:.3f}" for r in new) + f" | {new[0]['notes']}", flush=True)
                write(args, rows, setups, curves, structure, started)


def write(args, rows, setups, curves, structure, started) -> None:
    frame = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    pd.DataFrame([{"run": run, **row} for run, history in curves.items() for row in history]).to_csv(
        args.out.parent / f"{args.out.name}_curve.csv", index=False)
    command = "nice -n 10 .venv/bin/python scripts/location_prior_table.py " + shlex.join(sys.argv[1:])
    minutes = (time.perf_counter() - started) / 60
    (args.out.parent / f"{args.out.name}_table.md").write_text(
        f"<!-- {command}; {minutes:.0f} min -->\n{markdown_table(frame)}\n\nλmin check (deg to the nearest point of "
        f"another class, train split): {json.dumps(structure)}\n\nlr/schedule on validation: "
        f"{json.dumps({f'{t} {r:g}': [s.lr, s.lr_schedule, g] for (t, r), (s, g) in setups.items()})}\n")


if __name__ == "__main__":
    main()
