"""The blacklist keeps a reason per image."""

from __future__ import annotations

import pytest

from heldout.blacklist import add_to_blacklist, list_blacklist, remove_from_blacklist
from heldout.errors import ConfigError


def test_add_list_remove(project):
    assert add_to_blacklist(project, ["b", "a"], "drawing") == 2
    assert list_blacklist(project) == [("a", "drawing"), ("b", "drawing")]
    assert remove_from_blacklist(project, ["a"]) == 1
    assert list_blacklist(project) == [("b", "drawing")]


def test_adding_again_updates_the_reason(project):
    add_to_blacklist(project, ["a"], "blurry")
    assert add_to_blacklist(project, ["a"], "watermark") == 0
    assert list_blacklist(project) == [("a", "watermark")]


def test_a_reason_is_required(project):
    with pytest.raises(ConfigError, match="reason"):
        add_to_blacklist(project, ["a"], " ")


def test_published_blacklist_imports_in_one_call(project, shared_data):
    import json

    published = json.loads((shared_data / "imagenetv2" / "metadata" / "candidate_blacklist.json").read_text())
    ids = sorted(published)[:2000]
    for reason in sorted({published[i] for i in ids}):
        add_to_blacklist(project, [i for i in ids if published[i] == reason], reason)
    assert dict(list_blacklist(project)) == {i: published[i] for i in ids}
