"""heldout: build fresh held-out test sets for image classifiers, and score classifiers on them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("heldout")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = ["__version__"]
