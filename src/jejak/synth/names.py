"""Indonesian personal names, sampled in bulk.

The pools are Faker's ``id_ID`` lists (read once, never called per row) plus the very common
names those lists lack (Siti, Sri, Nur, Muhammad, Slamet, Sumarni...), Batak clan names for North
Sumatra, Minahasa family names for North Sulawesi and Balinese birth-order names. A name is
stored as four token slots — honorific-like first part (``Muhammad``, ``Siti``, ``I Wayan``),
given name, second given name, family-ish last name — each an index into one token pool, so
that children can inherit a father's last name and e-mail addresses can be derived from the parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker.providers.person.id_ID import Provider as _FakerPerson

COMMON_MALE = (
    "Agus",
    "Budi",
    "Andi",
    "Dedi",
    "Deni",
    "Asep",
    "Ujang",
    "Iwan",
    "Yudi",
    "Rudi",
    "Hendra",
    "Eko",
    "Joko",
    "Slamet",
    "Bambang",
    "Sutrisno",
    "Suparman",
    "Supriyadi",
    "Sugiono",
    "Suharto",
    "Sunarto",
    "Sumarno",
    "Rahmat",
    "Hasan",
    "Ali",
    "Arif",
    "Fajar",
    "Rizky",
    "Dimas",
    "Bayu",
    "Ilham",
    "Fikri",
    "Farhan",
    "Fauzi",
    "Zainal",
    "Syahrul",
    "Amir",
    "Darto",
    "Kasno",
    "Paijo",
    "Wagiman",
    "Sarno",
    "Rohmat",
    "Mulyadi",
    "Sukardi",
    "Suyanto",
    "Ruslan",
    "Haryono",
    "Basuki",
    "Yohanes",
    "Petrus",
    "Paulus",
    "Fransiskus",
    "Stefanus",
    "Markus",
    "Daniel",
    "Samuel",
    "Kevin",
    "Rizal",
    "Firman",
    "Komarudin",
    "Sugeng",
    "Wahyudi",
    "Heri",
    "Didik",
    "Yanto",
    "Anton",
    "Ferry",
    "Dodi",
    "Adi",
    "Ridho",
    "Alif",
    "Rafli",
    "Yusuf",
    "Syamsul",
)
COMMON_FEMALE = (
    "Sri",
    "Dewi",
    "Rina",
    "Yanti",
    "Wati",
    "Sumarni",
    "Sulastri",
    "Suparmi",
    "Sukarti",
    "Tuminah",
    "Painem",
    "Ngatini",
    "Sumiati",
    "Suryani",
    "Rohani",
    "Aminah",
    "Fatimah",
    "Khadijah",
    "Nurhayati",
    "Rosmawati",
    "Lilis",
    "Euis",
    "Neneng",
    "Iis",
    "Yuli",
    "Endang",
    "Fitri",
    "Anisa",
    "Annisa",
    "Magdalena",
    "Theresia",
    "Yohana",
    "Veronika",
    "Margaretha",
    "Elisabeth",
    "Lusiana",
    "Herlina",
    "Wahyuni",
    "Sundari",
    "Mariam",
    "Zubaidah",
    "Rusmini",
    "Kartini",
    "Sumirah",
    "Ponirah",
    "Tukini",
    "Mujiati",
    "Desi",
    "Novita",
    "Eni",
    "Yati",
    "Mulyati",
    "Suwarni",
    "Susi",
    "Nining",
    "Wiwik",
    "Tutik",
    "Erna",
    "Ani",
    "Nia",
    "Rani",
)
MARGA = (  # Batak clans (North Sumatra): inherited from the father, kept by married women
    "Siregar",
    "Nasution",
    "Harahap",
    "Lubis",
    "Simanjuntak",
    "Sitompul",
    "Hutapea",
    "Panjaitan",
    "Sinaga",
    "Simatupang",
    "Situmorang",
    "Pardede",
    "Manurung",
    "Sihombing",
    "Tampubolon",
    "Nainggolan",
    "Silalahi",
    "Pasaribu",
    "Damanik",
    "Saragih",
    "Ginting",
    "Tarigan",
    "Sembiring",
    "Purba",
    "Hutagalung",
    "Napitupulu",
    "Sitorus",
    "Simbolon",
    "Marpaung",
    "Pohan",
    "Batubara",
    "Daulay",
    "Rangkuti",
    "Hasibuan",
    "Ritonga",
    "Pane",
    "Tambunan",
    "Gultom",
    "Lumbantobing",
)
FAM = (  # Minahasa family names (North Sulawesi)
    "Wowor",
    "Rumengan",
    "Lumenta",
    "Pangemanan",
    "Tumbelaka",
    "Sondakh",
    "Mandagi",
    "Kaunang",
    "Lengkong",
    "Walangitan",
    "Mamahit",
    "Rondonuwu",
    "Sumampouw",
    "Tambuwun",
    "Wuisan",
    "Karundeng",
    "Runtuwene",
    "Sompie",
    "Supit",
    "Tumewu",
    "Warouw",
    "Kalalo",
    "Lumingkewas",
    "Pinontoan",
)
BALI_ORDER_MALE = ("I Wayan", "I Made", "I Nyoman", "I Ketut", "I Putu", "I Gede", "I Kadek", "I Komang")
BALI_ORDER_FEMALE = (
    "Ni Luh",
    "Ni Made",
    "Ni Nyoman",
    "Ni Ketut",
    "Ni Putu",
    "Ni Kadek",
    "Ni Komang",
    "Ni Wayan",
)
BALI_MALE = (
    "Sudarsana",
    "Suardana",
    "Wirawan",
    "Mertayasa",
    "Arsana",
    "Sukadana",
    "Adnyana",
    "Suarta",
    "Budiarta",
    "Astawa",
    "Darma",
    "Sutama",
    "Widiana",
    "Sudiarta",
    "Mahendra",
    "Suryawan",
)
BALI_FEMALE = (
    "Ariani",
    "Sukerti",
    "Suartini",
    "Wulandari",
    "Sriani",
    "Astiti",
    "Damayanti",
    "Parwati",
    "Sukarmi",
    "Yuliani",
    "Wirasti",
    "Puspitasari",
    "Sudiartini",
    "Ratnadi",
)
MUSLIM_MALE = ("Muhammad", "Mohammad", "Moh.", "M.", "Ahmad", "Achmad", "Abdul", "Muhamad")
MUSLIM_FEMALE = ("Siti", "Nur", "Siti Nur", "Nurul")
HAJI = ("H.", "Hj.")
DEGREES = (
    "S.E.",
    "S.H.",
    "S.Pd",
    "S.Kom",
    "S.T.",
    "S.Sos",
    "S.Ag",
    "A.Md",
    "S.Kep",
    "M.M.",
    "S.Farm",
    "S.IP",
)

PREFIX, GIVEN, GIVEN2, LAST = range(4)


@dataclass(frozen=True)
class Pools:
    tokens: pa.Array  # every name part, one pool; slots of a name index into it
    male: np.ndarray  # indices of male given names
    male_p: np.ndarray  # their sampling weights
    female: np.ndarray
    female_p: np.ndarray
    last_male: np.ndarray
    last_female: np.ndarray
    marga: np.ndarray
    fam: np.ndarray
    bali_order: tuple[np.ndarray, np.ndarray]  # (male, female)
    bali_given: tuple[np.ndarray, np.ndarray]
    muslim: tuple[np.ndarray, np.ndarray]
    haji: tuple[int, int]
    degrees: np.ndarray
    lower: pa.Array  # tokens reduced to a-z for e-mail local parts


@lru_cache(maxsize=1)
def pools() -> Pools:
    tokens: list[str] = []

    def add(names: tuple[str, ...] | list[str]) -> np.ndarray:
        start = len(tokens)
        tokens.extend(names)
        return np.arange(start, len(tokens), dtype=np.int64)

    fm = list(dict.fromkeys(_FakerPerson.first_names_male))
    ff = list(dict.fromkeys(_FakerPerson.first_names_female))
    cm = [n for n in COMMON_MALE if n not in fm]
    cf = [n for n in COMMON_FEMALE if n not in ff]
    male = add(fm + cm)
    female = add(ff + cf)
    # Very common names are many times more frequent than the long tail of Faker's list.
    male_p = np.r_[np.ones(len(fm)), np.full(len(cm), 6.0)]
    female_p = np.r_[np.ones(len(ff)), np.full(len(cf), 6.0)]
    last_male = add(list(dict.fromkeys(_FakerPerson.last_names_male)))
    last_female = add(list(dict.fromkeys(_FakerPerson.last_names_female)))
    marga, fam = add(MARGA), add(FAM)
    bali_order = (add(BALI_ORDER_MALE), add(BALI_ORDER_FEMALE))
    bali_given = (add(BALI_MALE), add(BALI_FEMALE))
    muslim = (add(MUSLIM_MALE), add(MUSLIM_FEMALE))
    haji = add(HAJI)
    degrees = add(DEGREES)
    arr = pa.array(tokens, pa.string())
    return Pools(
        tokens=arr,
        male=male,
        male_p=male_p / male_p.sum(),
        female=female,
        female_p=female_p / female_p.sum(),
        last_male=last_male,
        last_female=last_female,
        marga=marga,
        fam=fam,
        bali_order=bali_order,
        bali_given=bali_given,
        muslim=muslim,
        haji=(int(haji[0]), int(haji[1])),
        degrees=degrees,
        lower=pc.replace_substring_regex(pc.utf8_lower(arr), r"[^a-z]", ""),
    )


def _pick(pool: np.ndarray, rng: np.random.Generator, n: int, p: np.ndarray | None = None) -> np.ndarray:
    if p is None:
        return pool[rng.integers(0, len(pool), n)]
    return pool[np.searchsorted(np.cumsum(p), rng.random(n), side="right").clip(0, len(pool) - 1)]


def make_names(
    sex: np.ndarray, province: np.ndarray, muslim: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Name token slots (n x 4, -1 = empty) for people of the given sex (0 male, 1 female) and province."""
    P = pools()
    n = len(sex)
    female = sex == 1
    tok = np.full((n, 4), -1, dtype=np.int64)
    tok[:, GIVEN] = np.where(female, _pick(P.female, rng, n, P.female_p), _pick(P.male, rng, n, P.male_p))
    shape = rng.random(n)
    # 15% one name only (common among older Javanese), then given+last, given+given+last, given+given.
    has_given2 = shape >= 0.60
    has_last = (shape >= 0.15) & (shape < 0.80)
    g2 = np.where(female, _pick(P.female, rng, n, P.female_p), _pick(P.male, rng, n, P.male_p))
    tok[:, GIVEN2] = np.where(has_given2 & (g2 != tok[:, GIVEN]), g2, -1)
    last = np.where(female, _pick(P.last_female, rng, n), _pick(P.last_male, rng, n))
    r = rng.random(n)
    clan = (province == 12) & (r < 0.5)
    last = np.where(clan, _pick(P.marga, rng, n), last)
    minahasa = (province == 71) & (r < 0.5)
    last = np.where(minahasa, _pick(P.fam, rng, n), last)
    tok[:, LAST] = np.where(has_last | clan | minahasa, last, -1)

    r = rng.random(n)
    bali = (province == 51) & ~muslim & (r < 0.8)
    tok[:, PREFIX] = np.where(
        muslim & (r < np.where(female, 0.15, 0.12)),
        np.where(female, _pick(P.muslim[1], rng, n), _pick(P.muslim[0], rng, n)),
        -1,
    )
    tok[bali, PREFIX] = np.where(
        female[bali],
        _pick(P.bali_order[1], rng, int(bali.sum())),
        _pick(P.bali_order[0], rng, int(bali.sum())),
    )
    tok[bali, GIVEN] = np.where(
        female[bali],
        _pick(P.bali_given[1], rng, int(bali.sum())),
        _pick(P.bali_given[0], rng, int(bali.sum())),
    )
    tok[bali, LAST] = -1
    return tok


def is_clan_name(last: np.ndarray) -> np.ndarray:
    """Whether a last-name token is a Batak marga or Minahasa fam (always passed to children)."""
    P = pools()
    return np.isin(last, np.r_[P.marga, P.fam])


def render_names(
    tok: np.ndarray, title: np.ndarray, degree: np.ndarray, case: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """``NAMA`` (as typed: upper, title or lower case, with Haji title and degree) and ``NMCETAK``.

    ``title`` is -1 or a token (H./Hj.), ``degree`` -1 or a token, ``case`` 0 upper / 1 as is / 2 lower.
    ``NMCETAK`` is the card's printed name: upper case, no titles, a long second given name
    shortened to its initial.
    """
    P = pools()
    parts = [_tokens(P.tokens, tok[:, k]) for k in range(4)]
    plain = pc.binary_join_element_wise(*parts, " ", null_handling="skip")
    with_title = pc.binary_join_element_wise(_tokens(P.tokens, title), plain, " ", null_handling="skip")
    nama = pc.binary_join_element_wise(with_title, _tokens(P.tokens, degree), ", ", null_handling="skip")
    nama = pc.choose(pa.array(case, pa.int8()), pc.utf8_upper(nama), nama, pc.utf8_lower(nama))
    initial = pc.binary_join_element_wise(pc.utf8_slice_codeunits(parts[GIVEN2], 0, 1), ".", "")
    short = pc.binary_join_element_wise(
        parts[PREFIX], parts[GIVEN], initial, parts[LAST], " ", null_handling="skip"
    )
    long = pa.array(np.asarray(pc.utf8_length(plain)) > 25)
    printed = pc.utf8_upper(pc.utf8_slice_codeunits(pc.if_else(long, short, plain), 0, 30))
    return nama, printed


def _tokens(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    return pool.take(pa.array(idx, pa.int64(), mask=idx < 0))
