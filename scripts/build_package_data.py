"""Regenerate heldout's package data from the public releases in ../shared/data.

Run once by a developer (``python scripts/build_package_data.py [DATA_DIR]``); the output is
committed, so users never need the public data folder. Every file is xz-compressed with fixed
settings, so running this twice gives byte-identical files (a test checks that).
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "src" / "heldout" / "data"
MANIFESTS = (
    "imagenet-validation-original",
    "imagenet-annotatedval20k-0",
    "imagenetv2-a-44",
    "imagenetv2-b-33",
    "imagenetv2-c-12",
)


def compress(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)


def imagenet_classes(data_dir: Path) -> bytes:
    """One record per class, in class-index order (= sorted wnids)."""
    meta = data_dir / "imagenetv2" / "metadata"
    info = json.loads((meta / "class_info.json").read_text())
    similar = json.loads((meta / "wnid_to_most_similar_wnids.json").read_text())
    records = sorted(info, key=lambda r: r["wnid"])
    assert [r["cid"] for r in records] == list(range(1000)), "cid must equal sorted-wnid position"
    table = [
        {
            "id": r["wnid"],
            "names": r["synset"],
            "description": r["gloss"],
            "similar": [w for w in similar[r["wnid"]] if w != r["wnid"]],
        }
        for r in records
    ]
    return (json.dumps({"name": "imagenet-1k", "classes": table}, indent=1) + "\n").encode()


def build(data_dir: Path) -> list[Path]:
    outputs = {
        PACKAGE_DATA / "imagenet-1k.json.xz": imagenet_classes(data_dir),
        PACKAGE_DATA / "real.json.xz": (data_dir / "real" / "real.json").read_bytes(),
    }
    for name in MANIFESTS:
        source = data_dir / "imagenetv2" / "datasets" / f"{name}.json"
        outputs[PACKAGE_DATA / "manifests" / f"{name}.json.xz"] = source.read_bytes()
    for path, raw in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(compress(raw))
    return list(outputs)


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    for written in build(root):
        print(written.relative_to(PACKAGE_DATA.parents[2]), written.stat().st_size)
