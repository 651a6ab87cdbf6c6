"""Near-duplicate removal (ImageNetV2 §2.d): a fresh test set must hold no copy of the original data
and no two copies of one photo.

- ``features``: pixel rows and CNN embeddings, cached in the store;
- ``knn`` and ``ssim``: exact chunked top-k under squared L2, batched DSSIM (window 35);
- ``neighbours``: the stage that stores each candidate's nearest images per metric (resumable,
  local or on Dask);
- ``review``: thresholds, the review queue, decisions, and ``sufficiently_reviewed``;
- ``calibrate``: a metric's threshold from synthetic near copies at a target recall;
- ``components``: the resolution of duplicate components into kept / duplicate / reference;
- ``published``: ImageNetV2's dedup files in and out, and what they say about the released sets.

Import the modules themselves (``from heldout.dedup.review import sufficiently_reviewed``): this
package imports nothing, so reading the review state never loads faiss or the CNN runtime.
"""
