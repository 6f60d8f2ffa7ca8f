"""What one person's values look like: NIK, card numbers, phones, e-mails, addresses, timestamps.

Every function here works on whole numpy columns and returns pyarrow string arrays; none loops
over rows. Values are drawn as numbers first (a phone is its national significant number, an
address its district, village, street and house number) and rendered afterwards, with a *style*
per value chosen the way real input varies: ``0812…`` / ``62812…`` / ``+62 812-…``, ``Jl.`` /
``Jln.`` / ``Jalan``, ``RT 007/RW 008`` / ``RT.07 RW.08``, upper or mixed case.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jejak.synth.names import GIVEN, GIVEN2, LAST, pools
from jejak.synth.regions import Geography

EPOCH = date(1970, 1, 1)
DAY = 86_400
JKN_START = (date(2014, 1, 1) - EPOCH).days  # national health insurance began; older cards migrated
MIGRATION = (date(2013, 12, 1) - EPOCH).days

STATUS = ("AKTIF", "NONAKTIF", "MENINGGAL")
AKTIF, NONAKTIF, MENINGGAL = range(3)
RELIGION = ("ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU")
BLOOD = ("A", "B", "AB", "O")
MIGRASI, SYSTEM = -1, -2  # pseudo operators: the 2014 migration and overnight batch jobs

# Religion shares per province (ISLAM, KRISTEN, KATOLIK, HINDU, BUDDHA, KONGHUCU); others use DEFAULT.
_RELIGION_DEFAULT = (0.885, 0.065, 0.03, 0.012, 0.007, 0.001)
_RELIGION_BY_PROVINCE = {
    12: (0.64, 0.27, 0.06, 0.001, 0.028, 0.001),
    31: (0.84, 0.07, 0.04, 0.002, 0.046, 0.002),
    51: (0.10, 0.02, 0.01, 0.86, 0.01, 0.0),
    53: (0.10, 0.36, 0.53, 0.005, 0.005, 0.0),
    61: (0.60, 0.11, 0.22, 0.002, 0.063, 0.005),
    71: (0.31, 0.63, 0.05, 0.005, 0.004, 0.001),
    81: (0.50, 0.43, 0.06, 0.005, 0.004, 0.001),
    **{p: (0.17, 0.65, 0.17, 0.005, 0.005, 0.0) for p in (91, 92, 93, 94, 95, 96)},
}

# Mobile prefixes (after the 0) with rough market shares: Telkomsel, Indosat, XL, Axis, Tri, Smartfren.
# Public, like the other shares below: the canary bound reads them (jejak.channel.canary.compute_maxima).
MOBILE_SHARES = {
    811: 4,
    812: 14,
    813: 10,
    821: 8,
    822: 7,
    823: 3,
    851: 2,
    852: 5,
    853: 3,
    814: 1,
    815: 2,
    816: 2,
    855: 2,
    856: 4,
    857: 5,
    858: 2,
    817: 3,
    818: 3,
    819: 3,
    859: 2,
    877: 3,
    878: 3,
    831: 1,
    832: 1,
    833: 1,
    838: 1,
    895: 2,
    896: 2,
    897: 1,
    898: 2,
    899: 2,
    881: 1,
    882: 1,
    887: 1,
    888: 1,
    889: 1,
}
EMAIL_DOMAINS = (
    "gmail.com",
    "yahoo.com",
    "yahoo.co.id",
    "ymail.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "rocketmail.com",
    "live.com",
    "mail.com",
)
EMAIL_DOMAIN_P = (0.72, 0.09, 0.06, 0.02, 0.03, 0.025, 0.015, 0.01, 0.01, 0.01)
#: The eight ways an e-mail's local part is built from the name (render_email), and their shares.
EMAIL_STYLE_P = (0.2, 0.15, 0.08, 0.2, 0.12, 0.1, 0.08, 0.07)
EMAIL_NUMBER_STOP = 999  # the number some styles append: 1 .. 998
#: Digits of a phone's national number (without the 0) and their shares.
PHONE_LENGTHS = (10, 11, 12)
PHONE_LENGTH_P = (0.15, 0.65, 0.20)

STREETS = (
    "Sudirman",
    "Jend. Sudirman",
    "M.H. Thamrin",
    "Diponegoro",
    "Gatot Subroto",
    "Ahmad Yani",
    "A. Yani",
    "Imam Bonjol",
    "Pahlawan",
    "Merdeka",
    "Veteran",
    "Kartini",
    "R.A. Kartini",
    "Hasanuddin",
    "Pattimura",
    "Cut Nyak Dien",
    "Teuku Umar",
    "Gajah Mada",
    "Hayam Wuruk",
    "Pemuda",
    "Pramuka",
    "Raya",
    "Flamboyan",
    "Melati",
    "Mawar",
    "Anggrek",
    "Kenanga",
    "Cempaka",
    "Dahlia",
    "Kamboja",
    "Nusantara",
    "Kemuning",
    "Manggis",
    "Rambutan",
    "Durian",
    "Nangka",
    "Kelapa Gading",
    "Sisingamangaraja",
    "Dr. Wahidin",
    "Dr. Sutomo",
    "K.H. Agus Salim",
    "Panglima Polim",
    "Pangeran Antasari",
    "Basuki Rahmat",
    "Kapten Tendean",
    "S. Parman",
    "Yos Sudarso",
    "Sultan Agung",
    "Slamet Riyadi",
    "Adisucipto",
    "Kaliurang",
    "Magelang",
    "Solo",
    "Cendrawasih",
    "Rajawali",
    "Perintis Kemerdekaan",
    "Garuda",
    "Kebon Jeruk",
    "Pasar Baru",
    "Stasiun",
    "Lingkar Selatan",
    "Bypass",
    "Soekarno-Hatta",
    "Trans Sulawesi",
    "Lintas Sumatera",
    "Poros",
    "Pendidikan",
    "Masjid",
    "Sekolah",
    "Pasar",
    "Kesehatan",
    "Perjuangan",
    "Abdul Muis",
    "Asia Afrika",
    "Cihampelas",
    "Dipatiukur",
    "Kiaracondong",
    "Pasteur",
    "Setiabudhi",
    "Siliwangi",
    "Surapati",
    "W.R. Supratman",
    "Erlangga",
    "Rawamangun",
    "Ahmad Dahlan",
    "Jayawijaya",
    "R.E. Martadinata",
    "Otto Iskandardinata",
    "Kapten Muslihat",
    "Suryakencana",
    "Joyoboyo",
    "Indragiri",
)
GANGS = (
    "Mawar",
    "Melati",
    "Masjid",
    "Musholla",
    "Kenari",
    "Buntu",
    "Damai",
    "Rukun",
    "Haji Somad",
    "Keluarga",
    "Sawo",
    "Belimbing",
    "Jambu",
    "Mangga",
    "Pinang",
    "Kelor",
    "Sentosa",
    "Swadaya",
    "Mesjid",
    "Langgar",
)
ESTATES = (
    "Griya Asri",
    "Bumi Indah",
    "Taman Sari",
    "Villa Mutiara",
    "Puri Permata",
    "Griya Permai",
    "Bumi Mas",
    "Taman Cipta",
    "Graha Harapan",
    "Citra Indah",
    "Pesona Alam",
    "Bukit Hijau",
    "Permata Hijau",
    "Green Garden",
    "Pondok Indah",
    "Kompleks Guru",
    "Kompleks Polri",
    "BTN Mandiri",
)
DUSUNS = (
    "Krajan",
    "Karanganyar",
    "Sukamaju",
    "Kebonsari",
    "Ngasem",
    "Tegalsari",
    "Sidomulyo",
    "Wonosari",
    "Sumbersari",
    "Kauman",
    "Kidul",
    "Lor",
    "Wetan",
    "Kulon",
    "Tengah",
    "Gunungsari",
    "Pandean",
)


# -- small vectorised helpers ------------------------------------------------------------------------


def take(pool: pa.Array | list[str] | tuple[str, ...], idx: np.ndarray) -> pa.Array:
    """pool[idx] as a string array; a negative index gives null."""
    arr = pool if isinstance(pool, pa.Array) else pa.array(list(pool), pa.string())
    return arr.take(pa.array(idx, pa.int64(), mask=np.asarray(idx) < 0))


def digits(x: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded decimal strings."""
    return pc.utf8_lpad(pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.string()), width, padding="0")


def text(x: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.string())


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Concatenate element-wise, skipping nulls (a missing part leaves no double separator)."""
    return pc.binary_join_element_wise(*parts, sep, null_handling="skip")


def where(mask: np.ndarray, a: pa.Array, b: pa.Array | None = None) -> pa.Array:
    """a where mask, else b (or null)."""
    if b is None:
        b = pa.nulls(len(mask), pa.string())
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)


def choose(style: np.ndarray, *variants: pa.Array) -> pa.Array:
    return pc.choose(pa.array(np.asarray(style, dtype=np.int8)), *variants)


def draw(rng: np.random.Generator, p: tuple[float, ...] | list[float] | np.ndarray, n: int) -> np.ndarray:
    """Category indices with probabilities p (need not be normalised)."""
    cdf = np.cumsum(np.asarray(p, dtype=np.float64))
    return np.searchsorted(cdf / cdf[-1], rng.random(n), side="right").clip(0, len(cdf) - 1)


def case(values: pa.Array, style: np.ndarray) -> pa.Array:
    """0 as is, 1 upper case."""
    return choose(style, values, pc.utf8_upper(values))


def day_of(d: date) -> int:
    return (d - EPOCH).days


def render_date(days: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(days, dtype=np.int32), pa.date32()), pa.string())


def render_ts(seconds: np.ndarray) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS``."""
    return pc.cast(pa.array(np.asarray(seconds, dtype=np.int64), pa.timestamp("s")), pa.string())


def office_time(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight: mostly office hours, a few overtime or night entries."""
    t = rng.normal(11.5 * 3600, 2.3 * 3600, n)
    night = rng.random(n) < 0.04
    t = np.where(night, rng.uniform(0, DAY, n), t)
    return np.clip(t, 0, DAY - 1).astype(np.int64)


def times_between(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int) -> np.ndarray:
    """Timestamps (seconds) on days in [lo, hi) (day numbers), at office-like times; hi > lo required."""
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), n)
    span = np.maximum(np.broadcast_to(np.asarray(hi, dtype=np.int64), n) - lo_a, 1)
    days = lo_a + (rng.random(n) * span).astype(np.int64)
    return days * DAY + office_time(rng, n)


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month_start = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    dom = (d - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, dom


# -- identifiers ---------------------------------------------------------------------------------------


def nik_base(prefix: np.ndarray, birth: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """The NIK without its serial: district, DDMMYY with 40 added to the day for women."""
    year, month, dom = ymd(birth)
    ddmmyy = (dom + 40 * np.asarray(sex)) * 10_000 + month * 100 + year % 100
    return np.asarray(prefix, dtype=np.int64) * 10**10 + ddmmyy * 10**4


def isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin`` against an already sorted, unique array without re-sorting it on every call.

    Canaries are drawn against every identifier the registry ever held (millions) in a retry
    loop; ``np.isin`` would sort those millions on each retry.
    """
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[idx] == values


def assign_nik(base: np.ndarray, rng: np.random.Generator, taken: np.ndarray | None = None) -> np.ndarray:
    """Unique NIKs (int) for the given bases, avoiding ``taken`` (sorted or not).

    Serials count up from 0001 per district and birth date with small gaps (people we do not
    hold took the numbers in between), so most serials are small, as in real NIKs.
    """
    n = len(base)
    order = np.argsort(base, kind="stable")
    b = base[order]
    start = np.r_[True, b[1:] != b[:-1]] if n else np.zeros(0, dtype=bool)
    gaps = rng.integers(1, 4, n)
    cs = np.cumsum(gaps)
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0)) if n else np.zeros(0, dtype=np.int64)
    serial = np.empty(n, dtype=np.int64)
    serial[order] = cs - cs[first] + gaps[first]
    nik = base + serial
    taken = np.zeros(0, dtype=np.int64) if taken is None else np.unique(np.asarray(taken, dtype=np.int64))
    for attempt in range(64):
        clash = (serial > 9999) | isin_sorted(nik, taken)
        _, first_idx = np.unique(nik, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first_idx] = False
        clash |= dup
        if not clash.any():
            return nik
        k = int(clash.sum())
        serial[clash] = rng.integers(1, min(9999, 40 * 2**attempt) + 1, k)
        nik[clash] = base[clash] + serial[clash]
    raise RuntimeError("could not find free NIK serials; the district and date space is exhausted")


def render_nik(nik: np.ndarray) -> pa.Array:
    return digits(nik, 16)


NOKA_BASE = 1_000_000_000
NOKA_T0 = MIGRATION * DAY
NOKA_PER_SLOT = 8  # a family's members get consecutive card numbers inside one slot
NOKA_SLOTS_PER_SECOND = 0.55  # card numbers grow with registration time, as a national counter does


def noka_slots(ts: np.ndarray, taken_slots: np.ndarray | None = None) -> np.ndarray:
    """Card-number slots for registrations at times ``ts`` (seconds), unique and avoiding taken ones."""
    want = ((np.asarray(ts, dtype=np.int64) - NOKA_T0) * NOKA_SLOTS_PER_SECOND).astype(np.int64)
    want = np.maximum(want, 0)
    order = np.argsort(want, kind="stable")
    w = want[order]
    bumped = np.maximum.accumulate(w - np.arange(len(w))) + np.arange(len(w))  # strictly increasing
    slots = np.empty_like(want)
    slots[order] = bumped
    if taken_slots is not None and len(taken_slots):
        taken = np.unique(taken_slots)
        for _ in range(10_000):
            clash = isin_sorted(slots, taken)
            if not clash.any():
                break
            slots[clash] += 1
            _, first_idx = np.unique(slots, return_index=True)
            dup = np.ones(len(slots), dtype=bool)
            dup[first_idx] = False
            slots[dup] += 1
    return slots


def render_noka(noka: np.ndarray) -> pa.Array:
    return digits(noka, 13)


def render_old_card(rng: np.random.Generator, n: int) -> pa.Array:
    """Old Askes/Jamsostek card numbers carried over in 2014 (13 digits, leading zeros)."""
    return digits(rng.integers(10**8, 9 * 10**10, n), 13)


# -- contact data ------------------------------------------------------------------------------------


def new_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """National significant numbers of Indonesian mobiles (without the leading 0), 10-12 digits."""
    prefixes = np.array(list(MOBILE_SHARES), dtype=np.int64)
    pre = prefixes[draw(rng, list(MOBILE_SHARES.values()), n)]
    length = np.array(PHONE_LENGTHS)[draw(rng, PHONE_LENGTH_P, n)]  # 11, 12 or 13 digits with the 0
    rest = length - 3
    sub = (rng.random(n) * 10.0**rest).astype(np.int64)
    return pre * 10**rest + sub


PHONE_STYLE_P = (0.52, 0.12, 0.10, 0.06, 0.08, 0.08, 0.02, 0.02)


def render_phone(nsn: np.ndarray, style: np.ndarray) -> pa.Array:
    """Phones as people type them; nsn 0 gives null. Styles:
    0 ``081234567890``, 1 ``6281234567890``, 2 ``+6281234567890``, 3 ``+62 812-3456-7890``,
    4 ``0812 3456 7890``, 5 ``0812-3456-7890``, 6 ``+62 812 3456 7890``, 7 ``(+62) 81234567890``.
    """
    s = text(nsn)
    a, b, c = (
        pc.utf8_slice_codeunits(s, 0, 3),
        pc.utf8_slice_codeunits(s, 3, 7),
        pc.utf8_slice_codeunits(s, 7, 99),
    )
    out = choose(
        style,
        join("0", s),
        join("62", s),
        join("+62", s),
        join("+62 ", a, "-", b, "-", c),
        join("0", a, " ", b, " ", c),
        join("0", a, "-", b, "-", c),
        join("+62 ", a, " ", b, " ", c),
        join("(+62) ", s),
    )
    return where(np.asarray(nsn) > 0, out)


def render_email(tok: np.ndarray, birth: np.ndarray, has: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """E-mail addresses derived from the name; null where ``has`` is false. Mostly lower case."""
    n = len(birth)
    P = pools()
    given = take(P.lower, tok[:, GIVEN])
    other = np.where(tok[:, LAST] >= 0, tok[:, LAST], tok[:, GIVEN2])
    last = take(P.lower, other)
    year, _, _ = ymd(birth)
    num = text(rng.integers(1, EMAIL_NUMBER_STOP, n))
    yy = digits(year % 100, 2)
    yyyy = text(year)
    initial = pc.utf8_slice_codeunits(given, 0, 1)
    style = draw(rng, EMAIL_STYLE_P, n)
    style = np.where(other < 0, 3 + 2 * (style % 2), style)  # no second name: given + digits or year
    local = choose(
        style,
        join(given, ".", last),
        join(given, last),
        join(given, "_", last),
        join(given, num),
        join(given, ".", last, yy),
        join(given, yyyy),
        join(initial, last),
        join(last, ".", given),
    )
    local = pc.if_else(pc.is_null(local), join(given, num), local)
    domain = take(EMAIL_DOMAINS, draw(rng, EMAIL_DOMAIN_P, n))
    email = join(local, "@", domain)
    shape = draw(rng, (0.92, 0.06, 0.02), n)  # lower, Capitalised, UPPER
    email = choose(shape, email, pc.utf8_capitalize(email), pc.utf8_upper(email))
    return where(has, email)


def render_npwp(rng: np.random.Generator, nik: np.ndarray, has: np.ndarray) -> pa.Array:
    """Tax numbers: ``12.345.678.9-012.000``, the same digits plain, or (since 2024) the NIK itself."""
    n = len(nik)
    body = rng.integers(10**8, 10**9, n)  # 9 digits: taxpayer number and check digit
    kpp = rng.integers(1, 1000, n)  # tax office
    d = pc.utf8_slice_codeunits
    s9 = digits(body, 9)
    kp = digits(kpp, 3)
    dotted = join(d(s9, 0, 2), ".", d(s9, 2, 5), ".", d(s9, 5, 8), ".", d(s9, 8, 9), "-", kp, ".000")
    plain = join(s9, kp, "000")
    style = draw(rng, (0.55, 0.30, 0.15), n)
    return where(has, choose(style, dotted, plain, render_nik(nik)))


def draw_religion(province: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    table = np.tile(np.cumsum(_RELIGION_DEFAULT), (100, 1))
    for p, shares in _RELIGION_BY_PROVINCE.items():
        table[p] = np.cumsum(shares)
    table /= table[:, -1:]
    u = rng.random(len(province))
    return (u[:, None] > table[np.asarray(province)]).sum(axis=1).clip(0, len(RELIGION) - 1)


def render_user(kantor: np.ndarray, op: np.ndarray) -> pa.Array:
    """Operator ids tied to their branch office (``KC0503_07``), or MIGRASI / SYSTEM."""
    kantor = np.asarray(kantor)
    person = join("KC", digits(np.maximum(kantor, 0), 4), "_", digits(np.maximum(op, 0), 2))
    return choose(
        np.where(op == MIGRASI, 1, np.where(op == SYSTEM, 2, 0)),
        person,
        pa.array(["MIGRASI"] * len(op), pa.string()),
        pa.array(["SYSTEM"] * len(op), pa.string()),
    )


def draw_operator(geo: Geography, kantor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An operator number at each branch (1..number of operators there)."""
    codes = np.array(sorted(geo.kantor_operators), dtype=np.int64)
    counts = np.array([geo.kantor_operators[int(c)] for c in codes], dtype=np.int64)
    per = counts[np.searchsorted(codes, kantor)]
    return 1 + (rng.random(len(kantor)) * per).astype(np.int64)


# -- addresses ---------------------------------------------------------------------------------------------


def render_address(
    geo: Geography, district: np.ndarray, village: np.ndarray, rng: np.random.Generator
) -> pa.Array:
    """Addresses in the given districts/villages, written the many ways people write them."""
    n = len(district)
    city = geo.regency_is_city[geo.regency[district]]
    kind = draw(rng, (0.55, 0.15, 0.12, 0.18), n)  # street, alley, housing estate, hamlet
    kind = np.where(city & (kind == 3), 0, kind)

    number = 1 + np.minimum(rng.exponential(25, n), 298).astype(np.int64)
    num = join(text(number), take(("A", "B", "C"), np.where(rng.random(n) < 0.06, rng.integers(0, 3, n), -1)))
    num = choose(
        draw(rng, (0.45, 0.2, 0.12, 0.08, 0.15), n),
        join("No. ", num),
        join("No.", num),
        join("NO ", num),
        join("No ", num),
        num,
    )
    street = take(STREETS, rng.integers(0, len(STREETS), n))
    jl = take(("Jl.", "Jln.", "Jalan", "JL.", "Jl", "JLN."), draw(rng, (0.5, 0.15, 0.15, 0.1, 0.05, 0.05), n))
    gg = take(("Gg.", "Gang", "GG."), draw(rng, (0.6, 0.3, 0.1), n))
    gang = join(gg, " ", take(GANGS, rng.integers(0, len(GANGS), n)))
    on_street = join(jl, " ", street)
    first = choose(
        kind,
        join(on_street, " ", num),
        join(where(rng.random(n) < 0.4, on_street), gang, num, sep=" "),
        join(
            take(("Perum", "Perumahan", "Komp.", "Kompleks"), draw(rng, (0.5, 0.2, 0.2, 0.1), n)),
            " ",
            take(ESTATES, rng.integers(0, len(ESTATES), n)),
            " Blok ",
            take(tuple("ABCDEFGHJK"), rng.integers(0, 10, n)),
            text(rng.integers(1, 25, n)),
            " ",
            num,
        ),
        join(
            take(("Dusun", "Dsn.", "Dsn", "Dukuh"), draw(rng, (0.45, 0.3, 0.1, 0.15), n)),
            " ",
            take(DUSUNS, rng.integers(0, len(DUSUNS), n)),
        ),
    )

    rt = 1 + np.minimum(rng.exponential(5, n), 30).astype(np.int64)
    rw = 1 + np.minimum(rng.exponential(3.5, n), 20).astype(np.int64)
    rtrw = choose(
        draw(rng, (0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05), n),
        join("RT ", digits(rt, 3), "/RW ", digits(rw, 3)),
        join("RT.", digits(rt, 2), " RW.", digits(rw, 2)),
        join("RT ", text(rt), " RW ", text(rw)),
        join("RT.", digits(rt, 3), "/RW.", digits(rw, 3)),
        join("RT/RW ", digits(rt, 3), "/", digits(rw, 3)),
        join("Rt ", digits(rt, 2), " Rw ", digits(rw, 2)),
        join("RT", digits(rt, 3), " RW", digits(rw, 3)),
    )
    rtrw = where(rng.random(n) < 0.92, rtrw)

    vname = take(geo.village_name, village)
    vlabel = np.where(
        city, draw(rng, (0.45, 0.25, 0.1, 0.05, 0.15), n), 4 + draw(rng, (0.4, 0.2, 0.1, 0.15, 0.15), n)
    )
    vil = choose(
        vlabel,
        join("Kel. ", vname),
        join("Kelurahan ", vname),
        join("KEL. ", vname),
        join("Kel ", vname),
        vname,
        join("Desa ", vname),
        join("Ds. ", vname),
        join("Kel. ", vname),
        join("Ds ", vname),
    )
    kname = take(geo.district_name, district)
    kec = choose(
        draw(rng, (0.5, 0.2, 0.1, 0.1, 0.1), n),
        join("Kec. ", kname),
        join("Kecamatan ", kname),
        join("KEC. ", kname),
        join("Kec ", kname),
        kname,
    )
    kec = where(rng.random(n) < 0.9, kec)
    rname = take(geo.regency_name, geo.regency[district])
    reg = choose(
        np.where(city, 0, 1) + 2 * draw(rng, (0.6, 0.4), n),
        join("Kota ", rname),
        join("Kab. ", rname),
        rname,
        join("Kabupaten ", rname),
    )
    reg = where(rng.random(n) < 0.7, reg)
    post = geo.village_post[village]
    postcode = where((post > 0) & (rng.random(n) < 0.12), text(post))

    sep = rng.random(n) < 0.8
    address = pc.if_else(
        pa.array(sep),
        join(first, rtrw, vil, kec, reg, sep=", "),
        join(first, rtrw, vil, kec, reg, sep=" "),
    )
    address = join(address, postcode, sep=" ")
    return case(address, (rng.random(n) < 0.55).astype(np.int8))
