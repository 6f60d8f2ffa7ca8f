"""The insurer's participant list (BPJS layout of the 2021 leak) as families, in bulk.

A :class:`Roster` holds the state that history needs as numpy columns (family, relation, sex,
birth date, NIK, status, salary, phone, timestamps) next to the rendered output columns as
pyarrow strings. Changing a row re-renders only that row's changed columns, so a row nobody
touched stays byte-identical from one snapshot to the next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jejak.synth import names as nm
from jejak.synth.people import (
    AKTIF,
    BLOOD,
    DAY,
    JKN_START,
    MENINGGAL,
    MIGRASI,
    MIGRATION,
    NOKA_BASE,
    NOKA_PER_SLOT,
    NONAKTIF,
    PHONE_STYLE_P,
    RELIGION,
    STATUS,
    SYSTEM,
    assign_nik,
    day_of,
    digits,
    draw,
    draw_operator,
    draw_religion,
    new_phones,
    nik_base,
    noka_slots,
    office_time,
    render_address,
    render_date,
    render_email,
    render_nik,
    render_noka,
    render_npwp,
    render_old_card,
    render_phone,
    render_ts,
    render_user,
    take,
    text,
    times_between,
    where,
)
from jejak.synth.regions import Geography, geography

PARTICIPANT_COLUMNS = (
    "NOKA",
    "PSNOKALAMA",
    "NIK",
    "NAMA",
    "NMCETAK",
    "JENKEL",
    "AGAMA",
    "TMPLHR",
    "TGLLHR",
    "FLAGTANGGUNGAN",
    "NOHP",
    "EMAIL",
    "NPWP",
    "ALAMAT",
    "KDHUBKEL",
    "KDSTAWIN",
    "KDGOLDARAH",
    "KDSTATUSPST",
    "KDKANTOR",
    "GAJI",
    "TMT",
    "TSINPUT",
    "TSUPDATE",
    "USERINPUT",
    "USERUPDATE",
)
PPU, PBPU, PBI = range(3)  # wage earner, self-paying, state-paid (poor): drives salary and arrears
YEAR = 365.25


@dataclass
class Roster:
    """Participants at one moment. Row arrays share one order (card number order)."""

    noka: np.ndarray
    fam: np.ndarray  # family id, index into the fam_* arrays
    rel: np.ndarray  # KDHUBKEL: 1 head, 2 spouse, 3..5 first..third child
    sex: np.ndarray  # 0 male, 1 female
    birth: np.ndarray  # day number
    nik: np.ndarray
    status: np.ndarray  # AKTIF / NONAKTIF / MENINGGAL
    gaji: np.ndarray  # monthly salary in rupiah, 0 = none
    phone: np.ndarray  # national significant number, 0 = none
    ts_in: np.ndarray  # seconds
    ts_up: np.ndarray
    tok: np.ndarray  # name token slots (rows x 4)
    cols: dict[str, pa.Array]  # the rendered output columns
    fam_district: np.ndarray  # where the family lives now
    fam_kantor: np.ndarray  # its branch office
    fam_segment: np.ndarray
    fam_address: pa.Array  # its current address as last typed
    issued_nik: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # ever, incl. removed
    used_slots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    ROW_ARRAYS = (
        "noka",
        "fam",
        "rel",
        "sex",
        "birth",
        "nik",
        "status",
        "gaji",
        "phone",
        "ts_in",
        "ts_up",
        "tok",
    )
    FAM_ARRAYS = ("fam_district", "fam_kantor", "fam_segment")

    def __len__(self) -> int:
        return len(self.noka)

    @property
    def families(self) -> int:
        return len(self.fam_district)

    def table(self) -> pa.Table:
        return pa.table({c: self.cols[c] for c in PARTICIPANT_COLUMNS})

    def set(self, column: str, mask: np.ndarray, values: pa.Array) -> None:
        """Replace the rows selected by ``mask`` (in row order) with ``values``."""
        if mask.any():
            self.cols[column] = pc.replace_with_mask(self.cols[column], pa.array(mask), values)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is false."""
        for name in self.ROW_ARRAYS:
            setattr(self, name, getattr(self, name)[mask])
        keep = pa.array(mask)
        self.cols = {c: v.filter(keep) for c, v in self.cols.items()}

    def extend(self, other: Roster) -> None:
        """Append rows and families of ``other`` (whose family ids continue after ours)."""
        for name in self.ROW_ARRAYS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))
        for name in self.FAM_ARRAYS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))
        self.fam_address = pa.concat_arrays([self.fam_address, other.fam_address])
        self.cols = {c: pa.concat_arrays([v, other.cols[c]]) for c, v in self.cols.items()}
        self.issued_nik = np.concatenate([self.issued_nik, other.nik])
        self.used_slots = np.concatenate([self.used_slots, other.used_slots])
        order = np.argsort(self.noka, kind="stable")
        if (order != np.arange(len(order))).any():  # newborns' card numbers interleave with newcomers'
            for name in self.ROW_ARRAYS:
                setattr(self, name, getattr(self, name)[order])
            idx = pa.array(order)
            self.cols = {c: v.take(idx) for c, v in self.cols.items()}


# -- families ----------------------------------------------------------------------------------------


@dataclass
class _Families:
    fam: np.ndarray  # local family index per row
    pos: np.ndarray  # position in the family
    rel: np.ndarray
    start: np.ndarray  # first row of each family
    spouse: np.ndarray  # per family
    kids: np.ndarray


def _families(n: int, rng: np.random.Generator) -> _Families:
    """Family shapes: head, maybe a spouse, up to three children; cut to exactly n rows."""
    f0 = n // 2 + 16
    spouse = rng.random(f0) < 0.62
    kids = np.where(spouse, draw(rng, (0.30, 0.22, 0.28, 0.20), f0), draw(rng, (0.78, 0.11, 0.08, 0.03), f0))
    size = 1 + spouse + kids
    count = int(np.searchsorted(np.cumsum(size), n)) + 1
    spouse, kids, size = spouse[:count], kids[:count], size[:count]
    start = np.cumsum(size) - size
    fam = np.repeat(np.arange(count), size)[:n]
    pos = np.arange(n) - start[fam]
    kids = np.minimum(kids, np.bincount(fam, minlength=count) - 1 - spouse)  # the last family may be cut
    sp = spouse[fam]
    rel = np.where(pos == 0, 1, np.where((pos == 1) & sp, 2, 3 + pos - 1 - sp))
    return _Families(fam, pos, rel, start, spouse, kids)


def _ages(f: _Families, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ages in years and sexes; children are younger than both parents by at least 16 years."""
    count = len(f.start)
    has_kids = f.kids > 0
    head_age = np.where(
        has_kids,
        rng.normal(41, 9, count).clip(24, 66),
        np.where(f.spouse, rng.normal(47, 15, count).clip(20, 88), rng.normal(37, 16, count).clip(18, 90)),
    )
    head_male = rng.random(count) < np.where(f.spouse, 0.93, np.where(has_kids, 0.3, 0.55))
    spouse_age = head_age - np.where(head_male, rng.normal(3.5, 4, count), rng.normal(-3, 4, count))
    spouse_age = spouse_age.clip(np.where(has_kids, 20, 18), 92)
    parent_min = np.where(f.spouse, np.minimum(head_age, spouse_age), head_age)
    eldest = (parent_min - rng.uniform(19, 32, count)).clip(0.1, 24)
    n = len(f.fam)
    gap = np.where(f.rel > 3, rng.uniform(1.2, 6, n), 0.0)
    cg = np.cumsum(gap)
    child_age = np.maximum(eldest[f.fam] - (cg - cg[f.start[f.fam]]), rng.uniform(0.05, 0.9, n))
    age = np.select([f.rel == 1, f.rel == 2], [head_age[f.fam], spouse_age[f.fam]], child_age)
    head_sex = np.where(head_male, 0, 1)[f.fam]
    sex = np.select([f.rel == 1, f.rel == 2], [head_sex, 1 - head_sex], rng.integers(0, 2, n))
    return age, sex


def _inherit_last_names(tok: np.ndarray, f: _Families, sex: np.ndarray, rng: np.random.Generator) -> None:
    """Children take their father's last name: always a Batak marga or Minahasa fam, else sometimes."""
    father = np.where(sex[f.start] == 0, f.start, np.where(f.spouse, f.start + 1, -1))
    father = np.where((father >= 0) & (father < len(sex)), father, -1)
    valid = father >= 0
    father_last = np.full(len(f.start), -1, dtype=np.int64)
    father_last[valid] = tok[father[valid], nm.LAST]
    fl = father_last[f.fam]
    child = f.rel >= 3
    inherit = child & (fl >= 0) & (nm.is_clan_name(fl) | (rng.random(len(fl)) < 0.35))
    tok[inherit, nm.LAST] = fl[inherit]


def _salaries(rng: np.random.Generator, n: int) -> np.ndarray:
    """Monthly wages in rupiah: log-normal around 4.3 million; many round, some exact (a regional minimum)."""
    raw = np.exp(rng.normal(np.log(4.3e6), 0.55, n)).clip(1.9e6, 75e6)
    style = draw(rng, (0.5, 0.3, 0.2), n)
    return np.select([style == 0, style == 1], [np.round(raw, -3), np.round(raw, -5)], np.round(raw)).astype(
        np.int64
    )


def _birthplaces(geo: Geography, own: np.ndarray, home: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """TMPLHR: mostly the regency of the NIK, else where the family lives, else anywhere."""
    n = len(own)
    u = rng.random(n)
    anywhere = np.searchsorted(np.cumsum(geo.regency_weight), rng.random(n), side="right").clip(
        0, len(geo.regency_code) - 1
    )
    reg = np.select([u < 0.72, u < 0.82], [geo.regency[own], geo.regency[home]], anywhere)
    name = take(geo.regency_name, reg)
    jakarta = pc.starts_with(name, "Jakarta")
    name = pc.if_else(pc.and_(jakarta, pa.array(rng.random(n) < 0.6)), pa.scalar("Jakarta"), name)
    return where(rng.random(n) < 0.88, pc.utf8_upper(name), name)


# -- the population ------------------------------------------------------------------------------------


def populate(
    n: int,
    rng: np.random.Generator,
    *,
    first_day: int,
    last_day: int,
    established: bool,
    fam_offset: int = 0,
    taken_nik: np.ndarray | None = None,
    taken_slots: np.ndarray | None = None,
) -> Roster:
    """``n`` participants in families registered between ``first_day`` and ``last_day`` (day numbers).

    ``established`` builds a registry that has run since 2014 (migrated cards, people who have
    since become inactive or died, later updates); otherwise everyone registered in the window
    and nothing has happened to them yet (newcomers between two snapshots).
    """
    geo = geography()
    f = _families(n, rng)
    count = len(f.start)
    age, sex = _ages(f, rng)
    birth = last_day - np.round(age * YEAR).astype(np.int64)

    # Where families come from and live: most where their NIK was issued, some moved.
    nik_home = geo.random_districts(count, rng)
    moved = draw(rng, (0.86, 0.08, 0.06), count)
    district = np.select(
        [moved == 1, moved == 2],
        [geo.districts_like(nik_home, rng, scope="regency"), geo.random_districts(count, rng)],
        nik_home,
    )
    village = geo.villages_in(district, rng)
    kantor = geo.regency_kantor[geo.regency[district]]
    segment = draw(rng, (0.42, 0.18, 0.40), count)
    religion_f = draw_religion(geo.province[nik_home], rng)

    own_district = nik_home[f.fam]
    married_in = (f.rel == 2) & (rng.random(n) < 0.10)
    elsewhere = np.where(
        rng.random(n) < 0.6,
        geo.districts_like(own_district, rng, scope="province"),
        geo.random_districts(n, rng),
    )
    own_district = np.where(married_in, elsewhere, own_district)
    religion = np.where(
        (f.rel == 2) & (rng.random(n) < 0.03),
        draw_religion(geo.province[own_district], rng),
        religion_f[f.fam],
    )

    tok = nm.make_names(sex, geo.province[own_district], religion == 0, rng)
    _inherit_last_names(tok, f, sex, rng)
    P = nm.pools()
    title = np.where(
        (religion == 0) & (age >= 40) & (f.rel <= 2) & (rng.random(n) < 0.06),
        np.where(sex == 0, P.haji[0], P.haji[1]),
        -1,
    )
    degree = np.where(
        (age >= 23) & (rng.random(n) < np.where(segment[f.fam] == PPU, 0.08, 0.03)),
        P.degrees[rng.integers(0, len(P.degrees), n)],
        -1,
    )
    nik = assign_nik(nik_base(geo.prefix[own_district], birth, sex), rng, taken_nik)

    # Registration: families in one session at the office; members born or married later on their own.
    if established:
        migrated = rng.random(count) < 0.25
        span = max(last_day - 30 - JKN_START, 1)
        reg = np.where(
            migrated,
            MIGRATION + rng.integers(0, 31, count),
            JKN_START + (rng.beta(1.2, 1.9, count) * span).astype(np.int64),
        )
    else:
        migrated = np.zeros(count, dtype=bool)
        reg = rng.integers(first_day, last_day + 1, count)
    reg = np.minimum(np.maximum(reg, birth[f.start] + 17 * 365), last_day)
    migrated &= reg < JKN_START
    adult_from = np.where(f.rel <= 2, 17 * 365, 0)
    member_reg = np.minimum(np.maximum(reg[f.fam], birth + adult_from + rng.integers(7, 120, n)), last_day)
    # Everyone on a migrated card before 2014 came over with the family in the migration batch.
    joined = (member_reg <= reg[f.fam]) | (migrated[f.fam] & (member_reg < JKN_START))
    member_reg = np.where(joined, reg[f.fam], member_reg)
    fam_time = np.where(migrated, rng.integers(0, 5 * 3600, count), office_time(rng, count))
    ts_in = np.where(
        joined,
        reg[f.fam] * DAY + fam_time[f.fam] + f.pos * rng.integers(25, 200, n),
        member_reg * DAY + office_time(rng, n),
    )
    ts_in = np.minimum(ts_in, (last_day + 1) * DAY - 1)
    fam_tmt = np.where(migrated, JKN_START, reg + np.where(segment == PBPU, 14, rng.integers(0, 8, count)))
    tmt = np.minimum(np.where(joined, fam_tmt[f.fam], member_reg + rng.integers(0, 15, n)), last_day)

    # Card numbers follow registration time; one slot per registration session.
    session = np.where(joined, f.fam, count + np.arange(n))
    sessions, first_row = np.unique(session, return_index=True)
    slots = noka_slots(ts_in[first_row], taken_slots)
    noka = NOKA_BASE + slots[np.searchsorted(sessions, session)] * NOKA_PER_SLOT + np.where(joined, f.pos, 0)

    migrated_row = migrated[f.fam]
    # One operator types in a whole registration session; later members come to whoever is on duty.
    session_op = draw_operator(geo, kantor, rng)[f.fam]
    op_in = np.where(
        joined, np.where(migrated_row, MIGRASI, session_op), draw_operator(geo, kantor[f.fam], rng)
    )
    status = np.full(n, AKTIF, dtype=np.int64)
    ts_up, op_up = ts_in.copy(), op_in.copy()
    if established:
        status, ts_up, op_up = _established_history(f, age, segment, ts_in, op_in, kantor, last_day, rng)

    # Contact data, tax number, salary, marital status.
    phone_p = np.select([f.rel == 1, f.rel == 2], [0.88, 0.65], np.where(age >= 15, 0.5, 0.0))
    phone = np.where(rng.random(n) < phone_p * np.where(migrated_row, 0.7, 1.0), new_phones(rng, n), 0)
    phone = np.where((f.rel != 1) & (phone == 0) & (rng.random(n) < 0.3), phone[f.start][f.fam], phone)
    email_p = np.select([f.rel == 1, f.rel == 2], [0.45, 0.3], 0.5) * np.where(migrated_row, 0.6, 1.0)
    has_email = (age >= 17) & (rng.random(n) < email_p)
    seg = segment[f.fam]
    npwp_p = np.select(
        [(f.rel == 1) & (seg == PPU), (f.rel == 1) & (seg == PBPU), (f.rel == 2) & (seg == PPU)],
        [0.55, 0.25, 0.10],
        0.0,
    )
    has_npwp = rng.random(n) < npwp_p
    gaji = np.where((f.rel == 1) & (seg == PPU), _salaries(rng, n), 0)
    old_card = (migrated_row & (rng.random(n) < 0.8)) | (established & (rng.random(n) < 0.03))
    # KDSTAWIN: 1 single, 2 married, 3 divorced, 4 widowed.
    divorced_or_widowed = 3 + (rng.random(n) < 0.45)
    lone_adult = np.array([1, 3, 4])[draw(rng, (0.6, 0.2, 0.2), n)]
    stawin = np.select(
        [f.rel >= 3, f.spouse[f.fam], f.kids[f.fam] > 0, age < 28], [1, 2, divorced_or_widowed, 1], lone_adult
    )

    # Rows in card-number order from here on; render only after sorting (sorting strings is slow).
    o = np.argsort(noka, kind="stable")
    fam, rel = f.fam[o], f.rel[o]
    noka, sex, birth, nik, tok, status, gaji, phone = (
        noka[o],
        sex[o],
        birth[o],
        nik[o],
        tok[o],
        status[o],
        gaji[o],
        phone[o],
    )
    ts_in, ts_up, op_in, op_up, tmt = ts_in[o], ts_up[o], op_in[o], op_up[o], tmt[o]
    own_district, religion = own_district[o], religion[o]
    row_kantor = kantor[fam]

    fam_address = render_address(geo, district, village, rng)
    nama, printed = nm.render_names(tok, title[o], degree[o], draw(rng, (0.78, 0.17, 0.05), n))
    cols: dict[str, pa.Array] = {
        "NOKA": render_noka(noka),
        "PSNOKALAMA": where(old_card[o], render_old_card(rng, n)),
        "NIK": render_nik(nik),
        "NAMA": nama,
        "NMCETAK": printed,
        "JENKEL": take(("L", "P"), sex),
        "AGAMA": where(rng.random(n) < 0.98, take(RELIGION, religion)),
        "TMPLHR": _birthplaces(geo, own_district, district[fam], rng),
        "TGLLHR": render_date(birth),
        "FLAGTANGGUNGAN": take(("0", "1"), (rel != 1).astype(np.int64)),
        "NOHP": render_phone(phone, draw(rng, PHONE_STYLE_P, n)),
        "EMAIL": render_email(tok, birth, has_email[o], rng),
        "NPWP": render_npwp(rng, nik, has_npwp[o]),
        "ALAMAT": fam_address.take(pa.array(fam)),
        "KDHUBKEL": text(rel),
        "KDSTAWIN": text(stawin[o]),
        "KDGOLDARAH": take(BLOOD, np.where(rng.random(n) < 0.55, draw(rng, (0.26, 0.28, 0.09, 0.37), n), -1)),
        "KDSTATUSPST": take(STATUS, status),
        "KDKANTOR": digits(row_kantor, 4),
        "GAJI": where(gaji > 0, text(gaji)),
        "TMT": render_date(tmt),
        "TSINPUT": render_ts(ts_in),
        "TSUPDATE": render_ts(ts_up),
        "USERINPUT": render_user(row_kantor, op_in),
        "USERUPDATE": render_user(row_kantor, op_up),
    }
    return Roster(
        noka=noka,
        fam=fam + fam_offset,
        rel=rel,
        sex=sex,
        birth=birth,
        nik=nik,
        status=status,
        gaji=gaji,
        phone=phone,
        ts_in=ts_in,
        ts_up=ts_up,
        tok=tok,
        cols=cols,
        fam_district=district,
        fam_kantor=kantor,
        fam_segment=segment,
        fam_address=fam_address,
        issued_nik=nik.copy(),
        used_slots=slots.copy(),
    )


def _established_history(
    f: _Families,
    age: np.ndarray,
    segment: np.ndarray,
    ts_in: np.ndarray,
    op_in: np.ndarray,
    kantor: np.ndarray,
    last_day: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Status, last update time and updating operator of rows in a registry running for years.

    About 7% are inactive (whole families, mostly self-payers in arrears), 1.5% deceased (old
    people far more often); just over half of the rows were updated after their input.
    """
    n = len(f.fam)
    count = len(f.start)
    inactive = rng.random(count) < np.select([segment == PBPU, segment == PBI], [0.25, 0.04], 0.03)
    status = np.where(inactive[f.fam], NONAKTIF, AKTIF)
    hazard = np.exp(age / 14.0)
    dead = rng.random(n) < np.minimum(0.015 * n * hazard / hazard.sum(), 0.6)
    status = np.where(dead, MENINGGAL, status)
    in_day = ts_in // DAY
    can = in_day < last_day
    updated = can & ((status != AKTIF) | (rng.random(n) < 0.55))
    ts_up = np.where(updated, times_between(rng, in_day + 1, last_day + 1, n), ts_in)
    ts_up = np.where(updated, np.maximum(ts_up, ts_in + 1), ts_in)
    by_system = rng.random(n) < np.where(status == NONAKTIF, 0.7, 0.1)
    op_up = np.where(
        updated, np.where(by_system, SYSTEM, draw_operator(geography(), kantor[f.fam], rng)), op_in
    )
    return status, ts_up, op_up


# -- canaries ---------------------------------------------------------------------------------------------


def _as_ints(values: Iterable[str] | pa.Array | np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.zeros(0, dtype=np.int64)
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(list(values), pa.string())
    arr = pc.cast(arr, pa.string())
    ok = pc.match_substring_regex(arr, r"^\d{1,18}$")
    clean = pc.filter(arr, pc.fill_null(ok, False))
    return np.asarray(pc.cast(clean, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def make_people(
    n: int,
    rng: np.random.Generator,
    *,
    as_of: date = date(2025, 1, 1),
    exclude_nik: Iterable[str] | pa.Array | None = None,
    exclude_noka: Iterable[str] | pa.Array | None = None,
    families: bool = False,
) -> pa.Table:
    """``n`` synthetic participants in the exact participant layout, as of ``as_of``.

    They are drawn exactly like the generated registry — families, NIK consistent with region,
    sex and birth date, names, addresses in the NIK's region, phones, e-mails, card numbers that
    follow registration time, statuses — so they are indistinguishable from real rows, which is
    what canary records need. NIKs and card numbers in ``exclude_nik`` / ``exclude_noka`` (e.g.
    every value the registry ever held) are never produced. ``families`` adds ``_family`` (the
    family each person was drawn in, 0, 1, ...): members of one family share a phone now and
    then and their region, so canary evidence counts families (``jejak.channel.canary``). It
    draws nothing, so the people are the same with or without it.
    """
    taken_noka = _as_ints(exclude_noka)
    roster = populate(
        n,
        rng,
        first_day=JKN_START,
        last_day=day_of(as_of) - 1,
        established=True,
        taken_nik=_as_ints(exclude_nik),
        taken_slots=(taken_noka - NOKA_BASE) // NOKA_PER_SLOT,
    )
    table = roster.table()
    return table.append_column("_family", pa.array(roster.fam, pa.int64())) if families else table
