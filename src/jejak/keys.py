"""Key derivation and the fingerprint PRF.

master secret --HKDF--> release secret --HKDF--> channel key (per channel and column);
master secret --HKDF--> canary index key (the tags under which the ledger keeps canaries);
master secret --HKDF--> audit signing key (Ed25519, signs the audit log's checkpoints).
A mark's symbol for a cell is AES-128 under the channel key of the row's public 16-byte digest.
AES is a pseudo-random permutation, and the digest (SHA-256 of dataset and row key) is collision
resistant, so the symbols of a release are pseudo-random and independent of any other release's:
this independence is what makes the false-accusation bound exact. AES-ECB over a whole column is
one library call, which keeps marking at memory speed instead of one HMAC per cell in Python.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGEST_BYTES = 16


def _hkdf(secret: bytes, info: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info.encode()).derive(secret)


def release_secret(master: bytes, release_id: str) -> bytes:
    return _hkdf(master, f"jejak/release/v1/{release_id}")


def channel_key(release_secret_: bytes, channel: str, column: str) -> bytes:
    return _hkdf(release_secret_, f"{channel}/{column}", 16)


def canary_index_key(master: bytes) -> bytes:
    """The key of the canary index: the ledger stores a canary's values only as tags under it.

    One key for every release (not one per release): a leaked row's tags are computed once and
    compared with every release's canaries. Whoever reads the ledger without the master secret
    sees tags, never a value to copy into a forged leak (``jejak.channel.canary``).
    """
    return _hkdf(master, "jejak/canary-index/v1")


def audit_signing_key(master: bytes) -> Ed25519PrivateKey:
    """The key that signs the audit log's checkpoints (``jejak.audit``).

    Derived rather than stored, so the workspace holds one secret to back up and no second key
    file to leak; its public half (``audit.pub``) lets an auditor check checkpoints without it.
    """
    return Ed25519PrivateKey.from_private_bytes(_hkdf(master, "jejak/audit-checkpoint/v1"))


def digest_sql(dataset: str, key_expr: str) -> str:
    """DuckDB expression giving the row digest (BLOB of 16 bytes) for ``key_expr``."""
    prefix = dataset.replace("'", "''")
    return f"unhex(substr(sha256('{prefix}' || chr(31) || {key_expr}), 1, 32))"


def prf_words(key: bytes, digests: np.ndarray) -> np.ndarray:
    """One pseudo-random uint64 per row: the first 8 bytes of AES_key(digest).

    ``digests`` is an (n, 16) uint8 array (or n*16 contiguous bytes).
    """
    data = np.ascontiguousarray(digests, dtype=np.uint8).reshape(-1, DIGEST_BYTES)
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = enc.update(data.tobytes()) + enc.finalize()
    blocks = np.frombuffer(out, dtype=np.uint64).reshape(-1, 2)
    return blocks[:, 0].copy()


def prf_symbols(key: bytes, digests: np.ndarray, alphabet: int) -> np.ndarray:
    """Symbols in ``range(alphabet)``; the modulo bias is below 2**-50 for any alphabet we use."""
    return (prf_words(key, digests) % np.uint64(alphabet)).astype(np.int64)
