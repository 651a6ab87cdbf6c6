"""Croissant metadata (JSON-LD, MLCommons) for a release: core fields plus responsible-AI fields.

The ``@context`` is written inline (the standard Croissant 1.0 context), never as a URL, so a
JSON-LD processor (``mlcroissant``, rdflib) reads the file without fetching anything. The record
sets describe the images (content + label parsed from the class folder) and the raw answers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from heldout import __version__
from heldout.catalog import Dataset
from heldout.datasets import _layout as files
from heldout.datasets.licenses import license_url

if TYPE_CHECKING:
    from heldout.datasets.release import Entries
    from heldout.project import Project

__all__ = ["CONTEXT", "croissant"]

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
"""The standard Croissant 1.0 ``@context``, inline."""

_LABEL_REGEX = {  # readers may give the file path relative or absolute
    "index": (r"^(?:.*/)?images/([0-9]+)/[^/]+$", "sc:Integer"),
    "wnid": (r"^(?:.*/)?images/([^/]+)/[^/]+$", "sc:Text"),
    "name": (r"^(?:.*/)?images/0*([0-9]+)-[^/]*/[^/]+$", "sc:Integer"),
}


def croissant(
    project: Project, dataset: Dataset, entries: Entries, digests: dict[str, str], layout: str
) -> dict[str, Any]:
    """The Croissant document of a release whose files so far have ``digests`` (path -> sha256)."""
    released = entries.released
    urls = (license_url(k) for k in np.unique(entries.licenses[released]).tolist())
    license_urls = sorted({u for u in urls if u})
    parameters = {k: v for k, v in dataset.manifest.items() if k not in ("image_filenames", "images")}
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": dataset.name,
        "description": (
            f"{dataset.name}: an image-classification test set of {len(entries.ids)} images in "
            f"{len(np.unique(entries.labels))} classes of {project.classes.name}, built the ImageNetV2 way "
            f"(candidates labelled by crowd workers, near duplicates removed, sampled with "
            f"{dataset.manifest.get('sampling_function', dataset.variant)}, seed {dataset.seed})."
        ),
        "conformsTo": CONFORMS_TO,
        "citeAs": f"{dataset.name}, released with heldout {__version__}",
        "datePublished": dataset.created_at.date().isoformat(),
        "version": f"{dataset.revision}.0.0",
        "license": license_urls or ["see manifest.json: every image carries its own license"],
        "keywords": ["image classification", "test set", "distribution shift", "ImageNetV2"],
        **_rai(project, dataset, entries, parameters),
        "distribution": _distribution(digests),
        "recordSet": [_images_record_set(layout), _answers_record_set()],
    }


def _rai(project: Project, dataset: Dataset, entries: Entries, parameters: dict) -> dict[str, Any]:
    taken = sorted(str(d)[:10] for d in entries.dates_taken.tolist() if d)
    fields: dict[str, Any] = {
        "rai:dataCollection": (
            "Candidate images were collected per class (image search by class name and synonyms, or "
            "folders supplied by the project), stored with their source URL, license and owner, and "
            "shown to crowd workers in grids of 48 images per class with positive and negative controls."
        ),
        "rai:dataCollectionType": ["Web Scraping", "Crowdsourcing"],
        "rai:dataAnnotationProtocol": [
            "Each (image, class) question was answered by several workers (yes/no, as grid ticks). The "
            "selection frequency is the share of valid assignments that selected the image.",
            f"Sampling parameters: {json.dumps(parameters, sort_keys=True)}",
        ],
        "rai:dataAnnotationPlatform": ["Amazon Mechanical Turk or the heldout web app"],
        "rai:annotationsPerItem": _annotations_per_item(entries),
        "rai:annotatorDemographics": ["Not collected; worker ids are pseudonymised by a salted hash."],
        "rai:dataPreprocessingProtocol": [
            "Images were EXIF-oriented, converted to RGB and resized so the longer side is 500 px (JPEG "
            "quality 90); near duplicates of each other and of the reference dataset were removed after review."
        ],
        "rai:dataBiases": [
            "Candidates come from what the image source returned for each class name; the label of record "
            "is the crowd's, and selection frequency shapes which images were sampled."
        ],
        "rai:dataLimitations": [
            "Images whose license does not allow redistribution are listed by URL only and may disappear.",
            f"{int((~entries.released).sum())} of {len(entries.ids)} images are URL-only in this release.",
        ],
        "rai:dataUseCases": [
            "Evaluating image classifiers trained on the reference dataset; not for training."
        ],
        "rai:personalSensitiveInformation": [
            "Photos may show people; owners are named as the license requires. No worker identities are released."
        ],
        "rai:dataSocialImpact": "Measures how classifiers generalise beyond their original test set.",
        "rai:dataReleaseMaintenancePlan": (
            "Revisions keep file names (candidate ids) and ship renames.json and SHA256SUMS; "
            "`heldout verify` checks a copy."
        ),
    }
    if taken:
        fields["rai:dataCollectionTimeframe"] = [taken[0], taken[-1]]
    return fields


def _annotations_per_item(entries: Entries) -> str:
    known = entries.annotations[entries.annotations >= 0]
    if not len(known):
        return "unknown"
    return f"median {int(np.median(known))}, min {int(known.min())}, max {int(known.max())}"


def _distribution(digests: dict[str, str]) -> list[dict[str, Any]]:
    objects = [
        (files.MANIFEST, "application/json"),
        (files.CLASSES, "application/json"),
        (files.ANSWERS, "text/csv"),
        (files.DUPLICATES, "application/json"),
    ]
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": name,
            "name": name,
            "contentUrl": name,
            "encodingFormat": encoding,
            "sha256": digests[name],
        }
        for name, encoding in objects
    ]
    distribution.append(
        {
            "@type": "cr:FileSet",
            "@id": "image-files",
            "name": "image-files",
            "encodingFormat": "image/jpeg",
            "includes": f"{files.IMAGES}/*/*{files.IMAGE_SUFFIX}",
        }
    )
    return distribution


def _images_record_set(layout: str) -> dict[str, Any]:
    regex, label_type = _LABEL_REGEX[layout]
    source = {"fileSet": {"@id": "image-files"}}
    return {
        "@type": "cr:RecordSet",
        "@id": "images",
        "name": "images",
        "description": "The released images and their labels (class folder).",
        "field": [
            {
                "@type": "cr:Field",
                "@id": "images/image",
                "name": "image",
                "dataType": "sc:ImageObject",
                "source": {**source, "extract": {"fileProperty": "content"}},
            },
            {
                "@type": "cr:Field",
                "@id": "images/label",
                "name": "label",
                "dataType": label_type,
                "source": {**source, "extract": {"fileProperty": "filepath"}, "transform": {"regex": regex}},
            },
        ],
    }


def _answers_record_set() -> dict[str, Any]:
    columns = (("image_id", "sc:Text"), ("class_id", "sc:Text"), ("worker", "sc:Text"), ("answer", "sc:Text"))
    return {
        "@type": "cr:RecordSet",
        "@id": "answers",
        "name": "answers",
        "description": "Raw crowd answers (no/maybe/yes) to (image, class) questions; pseudonymous workers.",
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"answers/{column}",
                "name": column,
                "dataType": data_type,
                "source": {"fileObject": {"@id": files.ANSWERS}, "extract": {"column": column}},
            }
            for column, data_type in columns
        ],
    }
