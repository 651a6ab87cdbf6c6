"""Fit the simulated crowd of ``heldout demo`` on the real ReaL raters; writes package data.

Run once by a developer (``python scripts/fit_demo_raters.py [DATA_DIR]``, default
``../shared/data``); the small output, ``src/heldout/data/real-raters.json``, is committed, so the
demo never reads the public data folder. Each of the 85 ReaL raters gets the 2 x 3 confusion
matrix P(answer no/maybe/yes | the label fits or not) of a binary-truth Dawid–Skene fit on all
924,810 answers (``heldout.aggregate.DawidSkene``), and its number of answers (the simulated crowd
draws raters in proportion to it, as the real work was shared). Same input -> byte-identical file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from heldout.aggregate.dawid_skene import DawidSkene
from heldout.answers import answers_from_onehot

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "heldout" / "data" / "real-raters.json"


def fit(data_dir: Path) -> dict:
    """The raters' confusion matrices and answer counts, JSON-ready, rounded to 4 decimals."""
    with np.load(data_dir / "real" / "raters.npz") as raters:
        tensor, info, ids = raters["tensor"], raters["info"], raters["ids"]
    answers = answers_from_onehot(
        tensor.astype(np.int8), question_ids=np.arange(len(info)), worker_ids=ids, source="raters.npz"
    )
    model = DawidSkene().fit(answers)
    counts = np.bincount(answers.worker, minlength=answers.n_workers)
    return {
        "source": "google-research/reassessed-imagenet raters.npz (Apache-2.0)",
        "method": "binary-truth Dawid-Skene, answers no/maybe/yes",
        "rows": ["label does not fit", "label fits"],
        "columns": ["no", "maybe", "yes"],
        "prior_fits": round(float(model.priors_[0]), 4),
        "raters": [
            {"id": int(i), "answers": int(n), "confusion": np.round(c, 4).tolist()}
            for i, n, c in zip(ids.tolist(), counts.tolist(), model.confusion_, strict=True)
        ],
    }


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd().parent / "shared" / "data"
    OUTPUT.write_text(json.dumps(fit(data_dir), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
