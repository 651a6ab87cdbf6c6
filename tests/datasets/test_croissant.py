"""The release's Croissant file validates with mlcroissant, offline, and carries RAI fields."""

from __future__ import annotations

import json
import socket

import pytest

mlc = pytest.importorskip("mlcroissant", reason="mlcroissant is in the release extra")


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: validation must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_croissant_validates_offline_and_reads_labels(release_master, no_network):
    project, report = release_master
    dataset = mlc.Dataset(jsonld=str(report.root / "croissant.json"))
    records = list(dataset.records("images"))
    manifest = json.loads((report.root / "manifest.json").read_bytes())
    expected = sorted(r["label"] for r in manifest["images"] if r["redistributed"])
    assert sorted(r["images/label"] for r in records) == expected


def test_croissant_has_core_and_responsible_ai_fields(release_master):
    _, report = release_master
    document = json.loads((report.root / "croissant.json").read_text())
    assert isinstance(document["@context"], dict)  # inline: nothing to fetch
    assert {"name", "description", "license", "citeAs", "datePublished", "version", "distribution"} <= set(
        document
    )
    rai = {k for k in document if k.startswith("rai:")}
    assert {
        "rai:dataCollection",
        "rai:dataAnnotationProtocol",
        "rai:personalSensitiveInformation",
        "rai:dataLimitations",
    } <= rai
    assert document["license"] == sorted(
        [
            "https://creativecommons.org/licenses/by/2.0/",
            "https://creativecommons.org/licenses/by-sa/2.0/",
            "https://creativecommons.org/publicdomain/zero/1.0/",
        ]
    )


def test_croissant_with_a_dangling_reference_fails_validation(release_master, tmp_path, no_network):
    _, report = release_master
    document = json.loads((report.root / "croissant.json").read_text())
    document["recordSet"][0]["field"][0]["source"]["fileSet"]["@id"] = "no-such-files"
    (tmp_path / "croissant.json").write_text(json.dumps(document))
    with pytest.raises(mlc.ValidationError):
        mlc.Dataset(jsonld=str(tmp_path / "croissant.json"))
