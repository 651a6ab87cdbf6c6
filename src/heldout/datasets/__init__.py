"""Test sets: the registry of published and built sets, manifests, ReaL labels, image folders.

>>> from heldout import datasets
>>> datasets.list_datasets("imagenetv2-*")
['imagenetv2-a-44', 'imagenetv2-b-33', 'imagenetv2-c-12']
>>> len(datasets.load_dataset("imagenetv2-matched-frequency"))
10000
"""

from heldout.datasets._registry import list_datasets, load_dataset, register_dataset, resolve_name
from heldout.datasets.fetch import fetch_set
from heldout.datasets.folders import FolderIndex, FolderMatch, match_folder, scan_folder
from heldout.datasets.image_dataset import ImageDataset
from heldout.datasets.manifest import Manifest
from heldout.datasets.real import RealLabels, val_file_name
from heldout.datasets.testset import TestSet

__all__ = [
    "FolderIndex",
    "FolderMatch",
    "ImageDataset",
    "Manifest",
    "RealLabels",
    "TestSet",
    "fetch_set",
    "list_datasets",
    "load_dataset",
    "match_folder",
    "register_dataset",
    "resolve_name",
    "scan_folder",
    "val_file_name",
]
