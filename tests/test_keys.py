"""Key derivation separates releases and channels; the PRF is deterministic and uniform."""

from __future__ import annotations

import duckdb
import numpy as np

from jejak import keys


def digests(n: int) -> np.ndarray:
    con = duckdb.connect()
    t = con.sql(f"SELECT {keys.digest_sql('peserta', 'k')} AS d FROM (SELECT range::VARCHAR AS k FROM range({n}))")
    col = t.to_arrow_table().column("d").combine_chunks()
    return np.frombuffer(col.buffers()[2], dtype=np.uint8)[: n * 16].reshape(n, 16)


def test_release_secrets_differ_per_release_and_master() -> None:
    a = keys.release_secret(b"m" * 32, "R-1")
    assert a != keys.release_secret(b"m" * 32, "R-2")
    assert a != keys.release_secret(b"n" * 32, "R-1")
    assert a == keys.release_secret(b"m" * 32, "R-1")


def test_channel_keys_differ_per_channel_and_column() -> None:
    s = keys.release_secret(b"m" * 32, "R-1")
    ks = {keys.channel_key(s, ch, col) for ch in ("a", "b") for col in ("X", "Y")}
    assert len(ks) == 4


def test_digest_matches_sha256_of_dataset_and_key() -> None:
    import hashlib

    d = digests(3)
    assert bytes(d[2]) == hashlib.sha256(b"peserta\x1f2").digest()[:16]


def test_prf_symbols_are_deterministic_and_roughly_uniform() -> None:
    d = digests(40_000)
    k = keys.channel_key(keys.release_secret(b"m" * 32, "R-1"), "ts_jitter", "TSUPDATE")
    s = keys.prf_symbols(k, d, 4)
    assert np.array_equal(s, keys.prf_symbols(k, d, 4))
    counts = np.bincount(s, minlength=4)
    # chi-square with 3 degrees of freedom; 16.27 is the 0.001 critical value
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 16.27
    other = keys.prf_symbols(keys.channel_key(keys.release_secret(b"m" * 32, "R-2"), "ts_jitter", "TSUPDATE"), d, 4)
    assert 0.2 < (s == other).mean() < 0.3
