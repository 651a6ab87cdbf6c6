"""File names of a release folder, shared by the writer, the verifier and the registry.

<release>/
  manifest.json         the published manifest keys + per-image records ("images")
  classes.json          the class set (index = row), so the folder names mean something
  DATASHEET.md          how it was built, counts, histograms, dates, licenses
  answers.csv           raw answers, worker ids pseudonymised
  near_duplicates.json  reviewed near-duplicate pairs touching the released images
  renames.json          paths changed since the previous revision (revisions only)
  croissant.json        Croissant JSON-LD metadata (core + responsible-AI fields)
  images/<class>/<id>.jpeg
  exports/              <name>.tar.gz, webdataset/<name>-NNNNNN.tar, hf/
  SHA256SUMS            sha256 of every other file (``sha256sum -c`` format)
"""

from __future__ import annotations

MANIFEST = "manifest.json"
CLASSES = "classes.json"
DATASHEET = "DATASHEET.md"
ANSWERS = "answers.csv"
DUPLICATES = "near_duplicates.json"
RENAMES = "renames.json"
CROISSANT = "croissant.json"
IMAGES = "images"
EXPORTS = "exports"
CHECKSUMS = "SHA256SUMS"
IMAGE_SUFFIX = ".jpeg"
