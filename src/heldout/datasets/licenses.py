"""Which images a release may redistribute: an allow-list of license keys.

A license key is Flickr's license id as the search recorded it (``FLICKR_LICENSES``), or
``"unknown"`` when the source recorded none (folders, URL lists, IDX files). An image is shipped
as a file only when its key is allowed; otherwise it is a URL-only entry. The default allows
the licenses that permit redistributing a resized copy for any purpose: CC BY, CC BY-SA, no known
copyright restrictions, US government work, CC0 and the public domain mark. NonCommercial and
NoDerivs licenses, "all rights reserved" and unknown licenses are left out unless listed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "DEFAULT_LICENSES",
    "FLICKR_LICENSES",
    "UNKNOWN_LICENSE",
    "is_allowed",
    "license_name",
    "license_url",
]

FLICKR_LICENSES: dict[str, tuple[str, str | None]] = {
    "0": ("All Rights Reserved", None),
    "1": ("CC BY-NC-SA 2.0", "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
    "2": ("CC BY-NC 2.0", "https://creativecommons.org/licenses/by-nc/2.0/"),
    "3": ("CC BY-NC-ND 2.0", "https://creativecommons.org/licenses/by-nc-nd/2.0/"),
    "4": ("CC BY 2.0", "https://creativecommons.org/licenses/by/2.0/"),
    "5": ("CC BY-SA 2.0", "https://creativecommons.org/licenses/by-sa/2.0/"),
    "6": ("CC BY-ND 2.0", "https://creativecommons.org/licenses/by-nd/2.0/"),
    "7": ("No known copyright restrictions", "https://www.flickr.com/commons/usage/"),
    "8": ("United States Government Work", "https://www.usa.gov/government-copyright"),
    "9": ("Public Domain Dedication (CC0)", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "10": ("Public Domain Mark", "https://creativecommons.org/publicdomain/mark/1.0/"),
}
"""Flickr's license ids (flickr.photos.licenses.getInfo): name and URL."""
UNKNOWN_LICENSE = "unknown"
DEFAULT_LICENSES = ("4", "5", "7", "8", "9", "10")


def is_allowed(keys: np.ndarray, allowed: Sequence[str]) -> np.ndarray:
    """Which license keys are in the allow-list."""
    return np.isin(np.asarray(keys, dtype=str), list(allowed))


def license_name(key: str) -> str:
    """A readable name; keys outside Flickr's table are shown as they are."""
    return FLICKR_LICENSES[key][0] if key in FLICKR_LICENSES else key


def license_url(key: str) -> str | None:
    return FLICKR_LICENSES[key][1] if key in FLICKR_LICENSES else None
