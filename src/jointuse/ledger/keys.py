"""The ledger key (台帳鍵): what lets the application, and only it, vouch for the ledger.

Threat
    Someone with full rights on the database (a database administrator, or whoever steals the
    database) can insert, rewrite and delete rows with the append-only triggers disabled, and
    recompute the SHA-256 hash chain after any change: the chain alone proves the ledger is
    self-consistent, not that the application wrote it. What such a person does not have is
    this key: it lives in a file on the application's host (``JOINTUSE_LEDGER_KEY_FILE``,
    mode 0600), never in the database.

One key, three uses
    The key file is an Ed25519 private key (PKCS#8 PEM, written by ``jointuse ledger keygen``).
    From its 32 raw bytes two independent HMAC-SHA256 keys are derived with HKDF-SHA256 (each
    with its own ``info`` label, so no use can stand in for another):

    * the **entry MAC** (``access_ledger.mac``): ``HMAC(k_entry, f"{seq}\\n{entry}")``, computed
      by :func:`jointuse.ledger.service.append` over the entry's ``seq`` (drawn before the
      insert) and its canonical JSON. Binding ``seq`` makes a copied row (a replay) fail: it
      would need another ``seq``. The sealer refuses to seal an entry whose MAC does not verify;
    * the **seal MAC** (``access_ledger_seal.mac``, on the last seal of each sealing run):
      ``HMAC(k_seal, f"{chain_pos}\\n{hash}")``. The hash covers every entry up to that position,
      so one valid seal MAC authenticates the whole chain up to it: a rewrite, a deletion in the
      middle or a forged entry sealed by hand shows as a seal MAC that no longer verifies, or as
      sealed positions after the last authenticated one;
    * the Ed25519 key itself **signs checkpoints** (:mod:`jointuse.ledger.checkpoint`), which
      anyone holding the public key (joint users, auditors) can check without the secret.

    HMAC rather than a signature per entry or per run: it costs about a microsecond, so the
    gate's append and ``ledger verify`` stay fast; only the key holder can check it, which is
    what checkpoints (public-key signatures, also kept outside the database) are for.

Where the key comes from
    :func:`configured_key_file`: ``JOINTUSE_LEDGER_KEY_FILE`` when set; otherwise, only for the
    default database (``./var/jointuse.db``, the demo's), ``./var/ledger.key`` when it exists
    (``jointuse demo`` creates it). A composition root (``create_app``, a CLI command) loads it
    and binds it to its engine with :func:`bind_key`; :func:`bound_key` is how the ledger's
    append and sealer find it. Tests and tools that bind no key write unauthenticated entries.

Rotation is not implemented: a new key cannot check MACs made with the old one. The seam is
:class:`LedgerKey` (a key id could be stored beside each MAC).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine

from jointuse.core.errors import ValidationError
from jointuse.core.settings import DEFAULT_DATABASE_URL, Settings, load_settings

DEFAULT_KEY_FILE = Path("var/ledger.key")
"""The demo's key, beside the default database (``./var`` is git-ignored)."""

_ENTRY_INFO = b"jointuse-ledger-entry-mac-v1"
_SEAL_INFO = b"jointuse-ledger-seal-mac-v1"


# --- key files ----------------------------------------------------------------------------------


def public_key_hex(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def generate_key(path: Path, *, overwrite: bool = False) -> str:
    """Write a new Ed25519 private key as PKCS#8 PEM, mode 0600; return the public key (hex)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise ValidationError(
            f"key file {path} exists already; refusing to overwrite a signing key",
            field="key",
            valid="a path that does not exist yet (or --force)",
        ) from exc
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)
    return public_key_hex(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"cannot read key file {path}: {exc.strerror}",
            field="key",
            valid="a PEM file written by `jointuse ledger keygen`",
        ) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"{path} is not an unencrypted PEM private key",
            field="key",
            valid="a PEM file written by `jointuse ledger keygen`",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key",
            field="key",
            valid="an Ed25519 private key",
        )
    return key


def parse_public_key(value: str) -> Ed25519PublicKey:
    """A public key from 64 hex digits, or from a PEM file (public key, or private key)."""
    text = value.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    path = Path(text)
    if not path.is_file():
        raise ValidationError(
            f"public key {value!r} is neither 64 hex digits nor a readable file",
            field="public_key",
            valid="64 hex digits (as printed by keygen) or a PEM file",
        )
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ValidationError(
            f"{path} is not a PEM public key", field="public_key", valid="an Ed25519 PEM key"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key",
            field="public_key",
            valid="an Ed25519 public key",
        )
    return key


# --- the key ------------------------------------------------------------------------------------


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class LedgerKey:
    """The application's ledger key: entry and seal MACs, checkpoint signatures (module doc)."""

    __slots__ = ("_entry", "_seal", "private", "public_hex")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        self.private = private
        self.public_hex = public_key_hex(private.public_key())
        self._entry = _derive(raw, _ENTRY_INFO)
        self._seal = _derive(raw, _SEAL_INFO)

    @classmethod
    def generate(cls) -> LedgerKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: Path) -> LedgerKey:
        return cls(load_private_key(path))

    def __repr__(self) -> str:  # never the secret
        return f"LedgerKey(public={self.public_hex})"

    def entry_mac(self, seq: int, entry: str) -> str:
        """The MAC of the entry stored with ``seq`` as canonical JSON ``entry`` (64 hex)."""
        return hmac.digest(self._entry, b"%d\n%b" % (seq, entry.encode()), hashlib.sha256).hex()

    def entry_mac_valid(self, seq: int, entry: str, mac: str | None) -> bool:
        return mac is not None and hmac.compare_digest(self.entry_mac(seq, entry), mac)

    def seal_mac(self, chain_pos: int, hash_hex: str) -> str:
        """The MAC of the seal at ``chain_pos`` with hash ``hash_hex`` (64 hex)."""
        message = b"%d\n%b" % (chain_pos, hash_hex.encode())
        return hmac.digest(self._seal, message, hashlib.sha256).hex()

    def seal_mac_valid(self, chain_pos: int, hash_hex: str, mac: str | None) -> bool:
        return mac is not None and hmac.compare_digest(self.seal_mac(chain_pos, hash_hex), mac)

    def sign(self, message: bytes) -> str:
        """An Ed25519 signature of ``message`` (128 hex)."""
        return self.private.sign(message).hex()


# --- binding a key to an engine -----------------------------------------------------------------

_BOUND: weakref.WeakKeyDictionary[Any, LedgerKey] = weakref.WeakKeyDictionary()
_BOUND_LOCK = threading.Lock()


def bind_key(engine: Engine, key: LedgerKey | None) -> None:
    """Make ``key`` the ledger key of ``engine`` (and of every engine sharing its pool);
    ``None`` unbinds. Called once by a composition root."""
    with _BOUND_LOCK:
        if key is None:
            _BOUND.pop(engine.pool, None)
        else:
            _BOUND[engine.pool] = key


def bound_key(engine: Engine) -> LedgerKey | None:
    """The ledger key bound to ``engine``, if any."""
    return _BOUND.get(engine.pool)


# --- configuration ------------------------------------------------------------------------------


def configured_key_file(settings: Settings) -> Path | None:
    """The key file the configuration names for ``settings.database_url``: the
    ``ledger_key_file`` setting, else — for the default database only — ``./var/ledger.key``
    when it exists (see the module docstring)."""
    if settings.ledger_key_file:
        return Path(settings.ledger_key_file)
    if settings.database_url == DEFAULT_DATABASE_URL and DEFAULT_KEY_FILE.is_file():
        return DEFAULT_KEY_FILE
    return None


def configured_key(settings: Settings) -> LedgerKey | None:
    """The key :func:`configured_key_file` names, loaded (None when it names none)."""
    path = configured_key_file(settings)
    return None if path is None else LedgerKey.from_file(path)


def bind_configured_key(engine: Engine, database_url: str) -> LedgerKey | None:
    """Bind to ``engine`` the key the configuration names for ``database_url`` (a CLI command's
    composition root does this, so that the entries it writes carry MACs); return it."""
    key = configured_key(replace(load_settings(), database_url=database_url))
    bind_key(engine, key)
    return key


class LedgerKeyMissing(ValidationError):
    """The server has no ledger key and was not told to run without one."""

    code = "ledger_key_missing"
    status = 500


def require_key(settings: Settings) -> LedgerKey | None:
    """The configured key; None only when ``settings.ledger_unauthenticated`` allows it.
    Raises :class:`LedgerKeyMissing` otherwise (``jointuse serve`` refuses to start)."""
    key = configured_key(settings)
    if key is None and not settings.ledger_unauthenticated:
        raise LedgerKeyMissing(
            "no ledger key: without it anyone with access to the database can forge or drop "
            "ledger entries unnoticed. Set JOINTUSE_LEDGER_KEY_FILE to a key made with "
            "`jointuse ledger keygen --key FILE` (`jointuse demo` makes ./var/ledger.key for "
            "the default database), or run without one on purpose: "
            "JOINTUSE_LEDGER_UNAUTHENTICATED=1 / `jointuse serve --unauthenticated`",
            field="JOINTUSE_LEDGER_KEY_FILE",
            valid="the path of an Ed25519 PEM key file",
        )
    return key


def ensure_key_file(path: Path) -> tuple[LedgerKey, bool]:
    """The key in ``path``, made first (mode 0600, its folder too) if absent; and whether it was
    made now."""
    if path.exists():
        return LedgerKey.from_file(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_key(path)
    return LedgerKey.from_file(path), True
