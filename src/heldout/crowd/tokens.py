"""Opaque signed tokens: what a worker's browser holds instead of ids.

Image URLs, assignment pages, worker links and invite links carry a token, never an image id,
class, source or dataset. A token is its fields *encrypted and authenticated* under the project
secret (a deterministic SIV construction on HMAC-SHA256, standard library only):

    iv     = HMAC(k_mac, version | kind | fields)[:16]
    token  = base64url(iv | (version | kind | fields) XOR HMAC-CTR(k_enc, iv))

so a token reveals nothing (not even the assignment number), cannot be forged or altered (the
iv is the MAC of the plaintext), names its kind (an image token is not an assignment token), and
carries its own expiry. An image token names (assignment, position) only: the server looks the
image up, so a control and a candidate are served the same way. Tokens whose assignment has been
submitted or has expired are refused by the caller (:mod:`heldout.crowd.assignments`), so a token
copied out of a finished task cannot be replayed.

**The secret.** ``HELDOUT_SECRET`` from the environment (at least 16 characters); without it, a
random secret made on first use and kept in ``<project>/.heldout-secret`` (mode 0600), never in
``heldout.toml``, so the project file can be shared. Every process serving one project must see
the same secret: set ``HELDOUT_SECRET`` when the project folder is not shared (e.g. several
machines on one PostgreSQL catalog). Changing it invalidates every token and changes every
worker's hashed id, so workers come back as new workers.

**Worker ids.** Platform worker ids are stored only as ``sha256(worker_id + secret)`` (as
ImageNetV2 stored them), via :func:`hash_worker_id`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from heldout.errors import ConfigError, TokenError

__all__ = [
    "SECRET_ENV",
    "SECRET_FILE",
    "AssignmentRef",
    "ImageRef",
    "TokenSigner",
    "hash_worker_id",
    "project_secret",
]

SECRET_ENV = "HELDOUT_SECRET"
SECRET_FILE = ".heldout-secret"
_MIN_SECRET = 16
_VERSION = 1
_IMAGE, _ASSIGNMENT, _WORKER, _INVITE = 1, 2, 3, 4
_IV = 16
_MAX_TOKEN_CHARS = 400
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]{22,400}")
_BLOCK_0 = struct.pack(">I", 0)


def project_secret(root: str | Path) -> str:
    """The signing secret of the project at ``root``: ``HELDOUT_SECRET``, else the project's secret file
    (made with 32 random bytes on first use; concurrent first uses agree on one)."""
    value = os.environ.get(SECRET_ENV)
    if value:
        if len(value) < _MIN_SECRET:
            raise ConfigError(
                f"{SECRET_ENV} is too short ({len(value)} characters)",
                where=SECRET_ENV,
                fix=f"use at least {_MIN_SECRET} random characters, e.g. `python -c 'import secrets; print(secrets.token_hex())'`",
            )
        return value
    path = Path(root) / SECRET_FILE
    if not path.is_file():
        temporary = path.with_name(f"{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic create-if-absent: the first process wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    value = path.read_text().strip()
    if len(value) < _MIN_SECRET:
        raise ConfigError("the secret file is damaged", where=path, fix="delete it; a new one is made")
    return value


def hash_worker_id(platform_id: str, secret: str) -> str:
    """``sha256(platform_id + secret)`` as hex: the only form a platform worker id is stored in."""
    return hashlib.sha256((platform_id + secret).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ImageRef:
    """What an image token names: a position of an assignment's task."""

    assignment_id: int
    position: int


@dataclass(frozen=True)
class AssignmentRef:
    """What an assignment token names; ``submit_to`` is where MTurk wants the finished form (or "")."""

    assignment_id: int
    worker_id: int
    submit_to: str = ""


class TokenSigner:
    """Makes and reads the tokens of one project secret. Reading raises :class:`TokenError`."""

    def __init__(self, secret: str):
        if len(secret) < _MIN_SECRET:
            raise ConfigError(f"a signing secret needs at least {_MIN_SECRET} characters")
        key = secret.encode("utf-8")
        # keyed once: each token copies these states (the keys' pads hashed already), a few us
        mac_key = hmac.new(key, b"heldout token mac", hashlib.sha256).digest()
        enc_key = hmac.new(key, b"heldout token enc", hashlib.sha256).digest()
        self._mac = hmac.new(mac_key, digestmod=hashlib.sha256)
        self._enc = hmac.new(enc_key, digestmod=hashlib.sha256)
        self._admin = hmac.new(key, b"heldout admin", hashlib.sha256).hexdigest()[:32]

    def admin_key(self) -> str:
        """The key of the admin pages (derived from the secret)."""
        return self._admin

    # --- kinds -----------------------------------------------------------------------------------

    def image(self, assignment_id: int, position: int, *, expires_at: datetime | None) -> str:
        return self._seal(_IMAGE, struct.pack(">QHI", assignment_id, position, _stamp(expires_at)))

    def images(
        self, assignment_id: int, positions: Iterable[int], *, expires_at: datetime | None
    ) -> list[str]:
        """The image tokens of several positions of one assignment (a task page's tiles)."""
        stamp = _stamp(expires_at)
        return [self._seal(_IMAGE, struct.pack(">QHI", assignment_id, p, stamp)) for p in positions]

    def read_image(self, token: str, *, now: datetime) -> ImageRef:
        body = self._open(token, _IMAGE, now=now, fixed=14)
        assignment_id, position, _ = struct.unpack(">QHI", body)
        return ImageRef(assignment_id, position)

    def assignment(
        self, assignment_id: int, worker_id: int, *, expires_at: datetime | None, submit_to: str = ""
    ) -> str:
        fields = struct.pack(">QQI", assignment_id, worker_id, _stamp(expires_at))
        return self._seal(_ASSIGNMENT, fields + submit_to.encode("utf-8"))

    def read_assignment(self, token: str, *, now: datetime) -> AssignmentRef:
        body = self._open(token, _ASSIGNMENT, now=now, fixed=20)
        assignment_id, worker_id, _ = struct.unpack(">QQI", body[:20])
        return AssignmentRef(assignment_id, worker_id, _text(body[20:]))

    def worker(self, worker_id: int, *, expires_at: datetime | None = None) -> str:
        return self._seal(_WORKER, struct.pack(">QI", worker_id, _stamp(expires_at)))

    def read_worker(self, token: str, *, now: datetime) -> int:
        return struct.unpack(">QI", self._open(token, _WORKER, now=now, fixed=12))[0]

    def invite(self, label: str, *, expires_at: datetime | None = None) -> str:
        """An invite link's token for a lab's own crowd; ``label`` names the invitee (e.g. a number)."""
        return self._seal(_INVITE, struct.pack(">I", _stamp(expires_at)) + label.encode("utf-8"))

    def read_invite(self, token: str, *, now: datetime) -> str:
        body = self._open(token, _INVITE, now=now, fixed=4, expiry_at=0)
        return _text(body[4:])

    # --- machinery -------------------------------------------------------------------------------

    def _seal(self, kind: int, fields: bytes) -> str:
        plain = bytes((_VERSION, kind)) + fields
        mac = self._mac.copy()  # inline, not _digest: a page signs 48 of these
        mac.update(plain)
        iv = mac.digest()[:_IV]
        sealed = iv + _xor(plain, self._stream(iv, len(plain)))
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def _open(
        self, token: str, kind: int, *, now: datetime, fixed: int, expiry_at: int | None = None
    ) -> bytes:
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
            raise TokenError("this link is not valid")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise TokenError("this link is not valid") from exc
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token or len(raw) < _IV + 2 + fixed:
            raise TokenError("this link is not valid")  # non-canonical spellings are refused too
        iv, sealed = raw[:_IV], raw[_IV:]
        plain = _xor(sealed, self._stream(iv, len(sealed)))
        expected = self._digest(self._mac, plain)[:_IV]
        if not hmac.compare_digest(expected, iv) or plain[0] != _VERSION or plain[1] != kind:
            raise TokenError("this link is not valid")
        body = plain[2:]
        offset = fixed - 4 if expiry_at is None else expiry_at
        (expires,) = struct.unpack(">I", body[offset : offset + 4])
        if expires and expires < _stamp(now):
            raise TokenError("this link has expired")
        return body

    def _stream(self, iv: bytes, length: int) -> bytes:
        if length <= 32:  # most tokens: one block
            block = self._enc.copy()
            block.update(iv + _BLOCK_0)
            return block.digest()[:length]
        blocks = (length + 31) // 32
        return b"".join(self._digest(self._enc, iv + struct.pack(">I", i)) for i in range(blocks))[:length]

    @staticmethod
    def _digest(keyed: hmac.HMAC, data: bytes) -> bytes:
        mac = keyed.copy()
        mac.update(data)
        return mac.digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def _stamp(moment: datetime | None) -> int:
    """Seconds since the epoch of a naive-UTC datetime; 0 means "never expires"."""
    if moment is None:
        return 0
    return max(1, min(int(moment.replace(tzinfo=UTC).timestamp()), 2**32 - 1))


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenError("this link is not valid") from exc
