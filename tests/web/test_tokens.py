"""Opaque tokens and the project secret."""

from __future__ import annotations

import hashlib
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from heldout.crowd.tokens import SECRET_FILE, TokenSigner, hash_worker_id, project_secret
from heldout.errors import ConfigError, TokenError
from heldout.project import utcnow

SIGNER = TokenSigner("x" * 32)


def test_image_token_round_trips_assignment_and_position():
    token = SIGNER.image(123456, 47, expires_at=utcnow() + timedelta(hours=1))
    reference = SIGNER.read_image(token, now=utcnow())
    assert (reference.assignment_id, reference.position) == (123456, 47)


def test_image_tokens_of_a_page_are_the_single_tokens_of_its_positions():
    expires = utcnow() + timedelta(hours=1)
    tokens = SIGNER.images(7, [0, 5, 47], expires_at=expires)
    assert tokens == [SIGNER.image(7, p, expires_at=expires) for p in (0, 5, 47)]


def test_token_hides_its_numbers():
    assert "123456" not in SIGNER.image(123456, 47, expires_at=None)


def test_same_fields_give_the_same_token():
    assert SIGNER.image(1, 2, expires_at=None) == SIGNER.image(1, 2, expires_at=None)


def test_token_of_one_kind_is_refused_as_another():
    with pytest.raises(TokenError):
        SIGNER.read_image(SIGNER.worker(5), now=utcnow())


def test_every_single_character_change_is_refused():
    token = SIGNER.assignment(9, 3, expires_at=None, submit_to="https://www.mturk.com")
    alphabet = "AbZ09_-"
    for i in range(len(token)):
        for char in alphabet:
            if char != token[i]:
                with pytest.raises(TokenError):
                    SIGNER.read_assignment(token[:i] + char + token[i + 1 :], now=utcnow())
                break


def test_token_from_another_secret_is_refused():
    with pytest.raises(TokenError):
        SIGNER.read_worker(TokenSigner("y" * 32).worker(5), now=utcnow())


def test_expired_token_is_refused():
    token = SIGNER.invite("lab-1", expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(TokenError, match="expired"):
        SIGNER.read_invite(token, now=utcnow())


@pytest.mark.parametrize("token", ["", "short", "a" * 500, "not/base64!", "%00" * 10])
def test_malformed_token_is_refused(token):
    with pytest.raises(TokenError):
        SIGNER.read_image(token, now=utcnow())


def test_worker_id_hash_is_sha256_of_id_and_secret():
    assert hash_worker_id("A1B2", "s" * 16) == hashlib.sha256(b"A1B2" + b"s" * 16).hexdigest()


def test_secret_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HELDOUT_SECRET", "e" * 20)
    assert project_secret(tmp_path) == "e" * 20
    assert not (tmp_path / SECRET_FILE).exists()


def test_short_secret_in_the_environment_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HELDOUT_SECRET", "short")
    with pytest.raises(ConfigError):
        project_secret(tmp_path)


def test_secret_file_is_made_once_private_and_outside_heldout_toml(tmp_path, monkeypatch):
    monkeypatch.delenv("HELDOUT_SECRET", raising=False)
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: project_secret(tmp_path), range(16)))
    assert len(secrets) == 1
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [SECRET_FILE]
