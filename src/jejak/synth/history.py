"""What happens to the participant list between two snapshots.

Yearly rates (scaled to the interval) of the changes a national insurer sees: families move
(new address, and a new branch office when the regency changes), people get new phones and
e-mail addresses, wages change, self-payers fall into arrears (whole families become NONAKTIF)
and come back, people die (the surviving spouse becomes widowed), babies are born into
families, new families register, and grown-up children leave their parents' card. With the
default half-year interval about 3-4% of rows change. Every changed row gets a new
``TSUPDATE`` inside the interval and the ``USERUPDATE`` of an operator at its branch (or
SYSTEM for the overnight arrears job); every other row is left exactly as it was.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jejak.synth import names as nm
from jejak.synth.participants import PBPU, YEAR, Roster, populate
from jejak.synth.people import (
    AKTIF,
    DAY,
    MENINGGAL,
    NOKA_BASE,
    NOKA_PER_SLOT,
    NONAKTIF,
    PHONE_STYLE_P,
    STATUS,
    SYSTEM,
    assign_nik,
    digits,
    draw,
    draw_operator,
    new_phones,
    nik_base,
    noka_slots,
    office_time,
    render_address,
    render_date,
    render_email,
    render_nik,
    render_noka,
    render_phone,
    render_ts,
    render_user,
    take,
    text,
    times_between,
    where,
)
from jejak.synth.regions import geography

RATES = {  # per year
    "move": 0.012,  # families
    "deactivate": 0.008,  # families, self-payers many times more
    "reactivate": 0.15,  # inactive families
    "death": 0.0065,  # people, by age
    "phone": 0.015,
    "email": 0.008,
    "salary": 0.09,  # wage earners
    "birth": 0.07,  # couples with a mother aged 20-42 and fewer than three children
    "newcomers": 0.024,  # new rows relative to the living population
    "leave_child": 0.15,  # children aged 21+ leave the family card
    "leave": 0.0008,  # anybody else but heads (duplicates cleaned up, emigration)
}


class _Updates:
    """Collects, per row, the latest update time and who made it."""

    def __init__(self, r: Roster, lo: int, hi: int, rng: np.random.Generator) -> None:
        self.r, self.lo, self.hi, self.rng = r, lo, hi, rng
        self.ts = np.zeros(len(r), dtype=np.int64)
        self.op = np.zeros(len(r), dtype=np.int64)

    def family_times(self, fams: np.ndarray) -> np.ndarray:
        return times_between(self.rng, self.lo, self.hi, len(fams))

    def touch(self, rows: np.ndarray, ts: np.ndarray, by_system: np.ndarray | bool = False) -> None:
        """Record an update of ``rows`` (indices) at ``ts`` (seconds)."""
        kantor = self.r.fam_kantor[self.r.fam[rows]]
        op = np.where(by_system, SYSTEM, draw_operator(geography(), kantor, self.rng))
        ts = np.minimum(ts, self.hi * DAY - 1)
        later = ts > self.ts[rows]
        self.ts[rows[later]] = ts[later]
        self.op[rows[later]] = op[later]

    def apply(self) -> np.ndarray:
        """Write TSUPDATE and USERUPDATE of every touched row; return the touched mask."""
        touched = self.ts > 0
        r = self.r
        r.ts_up[touched] = self.ts[touched]
        r.set("TSUPDATE", touched, render_ts(self.ts[touched]))
        kantor = r.fam_kantor[r.fam[touched]]
        r.set("USERUPDATE", touched, render_user(kantor, self.op[touched]))
        return touched


def _family_rows(r: Roster, chosen_fams: np.ndarray, rows_ok: np.ndarray) -> np.ndarray:
    """Indices of rows (where rows_ok) whose family is in the boolean family mask."""
    return np.flatnonzero(chosen_fams[r.fam] & rows_ok)


def _chance(rate: float, years: float) -> float:
    return float(1 - np.exp(-rate * years))


def advance(r: Roster, rng: np.random.Generator, prev_day: int, new_day: int) -> None:
    """Move ``r`` from the snapshot of ``prev_day`` to that of ``new_day`` (changes in [prev, new))."""
    geo = geography()
    years = (new_day - prev_day) / YEAR
    lo, hi = prev_day, new_day
    n = len(r)
    alive = r.status != MENINGGAL
    age = (hi - r.birth) / YEAR
    up = _Updates(r, lo, hi, rng)
    fams = r.families
    fam_alive = np.bincount(r.fam[alive], minlength=fams) > 0

    # Moves: the whole living family gets the new address (and the new regency's branch).
    moving = fam_alive & (rng.random(fams) < _chance(RATES["move"], years))
    mf = np.flatnonzero(moving)
    u = rng.random(len(mf))
    old = r.fam_district[mf]
    new_district = np.select(
        [u < 0.55, u < 0.8],
        [geo.districts_like(old, rng, scope="regency"), geo.districts_like(old, rng, scope="province")],
        geo.random_districts(len(mf), rng),
    )
    r.fam_district[mf] = new_district
    r.fam_kantor[mf] = geo.regency_kantor[geo.regency[new_district]]
    fam_mask = np.zeros(fams, dtype=bool)
    fam_mask[mf] = True
    r.fam_address = pc.replace_with_mask(
        r.fam_address,
        pa.array(fam_mask),
        render_address(geo, new_district, geo.villages_in(new_district, rng), rng),
    )
    rows = _family_rows(r, moving, alive)
    mask = _mask(n, rows)
    r.set("ALAMAT", mask, r.fam_address.take(pa.array(r.fam[mask])))
    r.set("KDKANTOR", mask, digits(r.fam_kantor[r.fam[mask]], 4))
    t_fam = np.zeros(fams, dtype=np.int64)
    t_fam[mf] = up.family_times(mf)
    up.touch(rows, t_fam[r.fam[rows]] + r.rel[rows] * rng.integers(20, 150, len(rows)))

    # Arrears: families of self-payers stop paying (an overnight job deactivates them), some resume.
    fam_inactive = np.bincount(r.fam[alive & (r.status == NONAKTIF)], minlength=fams) > 0
    rate = np.where(r.fam_segment == PBPU, RATES["deactivate"] * 6, RATES["deactivate"])
    stop = fam_alive & ~fam_inactive & (rng.random(fams) < 1 - np.exp(-rate * years))
    resume = fam_inactive & (rng.random(fams) < _chance(RATES["reactivate"], years))
    for chosen, before, after, system_share in ((stop, AKTIF, NONAKTIF, 0.7), (resume, NONAKTIF, AKTIF, 0.2)):
        rows = _family_rows(r, chosen, r.status == before)
        r.status[rows] = after
        r.set("KDSTATUSPST", _mask(n, rows), take(STATUS, np.full(len(rows), after)))
        cf = np.flatnonzero(chosen)
        t_fam[cf] = up.family_times(cf)
        system = np.zeros(fams, dtype=bool)
        system[cf] = rng.random(len(cf)) < system_share
        up.touch(rows, t_fam[r.fam[rows]] + rng.integers(0, 40, len(rows)), system[r.fam[rows]])

    # Deaths, by age; the surviving head or spouse becomes widowed (KDSTAWIN 4).
    hazard = np.exp(age / 14.0) * alive
    p = np.minimum(RATES["death"] * years * hazard * alive.sum() / max(hazard.sum(), 1e-9), 0.5)
    dead = np.flatnonzero(rng.random(n) < p)
    r.status[dead] = MENINGGAL
    r.set("KDSTATUSPST", _mask(n, dead), take(STATUS, np.full(len(dead), MENINGGAL)))
    up.touch(dead, times_between(rng, lo, hi, len(dead)))
    partner_of = np.zeros((fams, 6), dtype=bool)  # [family, KDHUBKEL]: that member died
    partner_of[r.fam[dead], r.rel[dead]] = True
    widowed = np.flatnonzero(
        (r.status != MENINGGAL)
        & (((r.rel == 1) & partner_of[r.fam, 2]) | ((r.rel == 2) & partner_of[r.fam, 1]))
    )
    r.set("KDSTAWIN", _mask(n, widowed), pa.array(["4"] * len(widowed), pa.string()))
    up.touch(widowed, times_between(rng, lo, hi, len(widowed)))

    alive = r.status != MENINGGAL
    # New phones (or a first phone), new e-mail addresses, wage changes.
    phone_rows = np.flatnonzero(alive & (age >= 15) & (rng.random(n) < _chance(RATES["phone"], years)))
    r.phone[phone_rows] = new_phones(rng, len(phone_rows))
    r.set(
        "NOHP",
        _mask(n, phone_rows),
        render_phone(r.phone[phone_rows], draw(rng, PHONE_STYLE_P, len(phone_rows))),
    )
    up.touch(phone_rows, times_between(rng, lo, hi, len(phone_rows)))

    email_rows = np.flatnonzero(alive & (age >= 17) & (rng.random(n) < _chance(RATES["email"], years)))
    r.set(
        "EMAIL",
        _mask(n, email_rows),
        render_email(r.tok[email_rows], r.birth[email_rows], np.ones(len(email_rows), dtype=bool), rng),
    )
    up.touch(email_rows, times_between(rng, lo, hi, len(email_rows)))

    pay_rows = np.flatnonzero(alive & (r.gaji > 0) & (rng.random(n) < _chance(RATES["salary"], years)))
    raised = (r.gaji[pay_rows] * rng.uniform(1.03, 1.2, len(pay_rows))).astype(np.int64)
    r.gaji[pay_rows] = np.where(rng.random(len(pay_rows)) < 0.7, np.round(raised, -3), raised)
    r.set("GAJI", _mask(n, pay_rows), text(r.gaji[pay_rows]))
    up.touch(pay_rows, times_between(rng, lo, hi, len(pay_rows)))

    newborns = _newborns(r, rng, lo, hi, years)
    up.apply()

    # Children who grew up leave the card; a few other rows are cleaned up.
    leave_p = np.where(
        (r.rel >= 3) & (age >= 21),
        _chance(RATES["leave_child"], years),
        np.where(r.rel == 1, 0.0, _chance(RATES["leave"], years)),
    )
    r.keep(rng.random(n) >= leave_p)

    living = int((r.status != MENINGGAL).sum())
    k = int(round(RATES["newcomers"] * years * living))
    if k:
        newcomers = populate(
            k,
            rng,
            first_day=lo,
            last_day=hi - 1,
            established=False,
            fam_offset=r.families,
            taken_nik=np.concatenate([r.issued_nik, newborns.nik]),
            taken_slots=np.concatenate([r.used_slots, newborns.used_slots]),
        )
        newcomers.extend(newborns)
        r.extend(newcomers)
    else:
        r.extend(newborns)


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[rows] = True
    return m


def _newborns(r: Roster, rng: np.random.Generator, lo: int, hi: int, years: float) -> Roster:
    """Babies born to couples in the interval, registered on their family's card."""
    geo = geography()
    fams = r.families
    alive = r.status != MENINGGAL
    head = np.full(fams, -1, dtype=np.int64)
    spouse = np.full(fams, -1, dtype=np.int64)
    head[r.fam[(r.rel == 1) & alive]] = np.flatnonzero((r.rel == 1) & alive)
    spouse[r.fam[(r.rel == 2) & alive]] = np.flatnonzero((r.rel == 2) & alive)
    last_child = np.zeros(fams, dtype=np.int64)
    np.maximum.at(last_child, r.fam, np.where(r.rel >= 3, r.rel, 2))
    couple = (head >= 0) & (spouse >= 0) & (last_child < 5)
    mother = np.where(r.sex[np.maximum(head, 0)] == 1, head, spouse)
    mother_age = (hi - r.birth[np.maximum(mother, 0)]) / YEAR
    eligible = couple & (mother_age >= 20) & (mother_age <= 42)
    fam = np.flatnonzero(eligible & (rng.random(fams) < _chance(RATES["birth"], years)))
    k = len(fam)
    h, s = head[fam], spouse[fam]

    sex = rng.integers(0, 2, k)
    birth = rng.integers(lo - 30, max(hi - 10, lo - 29), k)
    district = np.searchsorted(geo.prefix, r.nik[h] // 10**10)
    nik = assign_nik(nik_base(geo.prefix[district], birth, sex), rng, r.issued_nik)
    rel = np.maximum(last_child[fam], 2) + 1
    religion_text = r.cols["AGAMA"].take(pa.array(h))
    muslim = np.asarray(pc.fill_null(pc.equal(religion_text, "ISLAM"), False))
    tok = nm.make_names(sex, geo.province[district], muslim, rng)
    father = np.where(r.sex[h] == 0, h, s)
    father_last = r.tok[father, nm.LAST]
    inherit = (father_last >= 0) & (nm.is_clan_name(father_last) | (rng.random(k) < 0.35))
    tok[inherit, nm.LAST] = father_last[inherit]
    reg_day = np.minimum(np.maximum(birth + rng.integers(3, 60, k), lo), hi - 1)
    ts = reg_day * DAY + office_time(rng, k)
    slots = noka_slots(ts, r.used_slots)
    noka = NOKA_BASE + slots * NOKA_PER_SLOT
    kantor = r.fam_kantor[fam]
    op = draw_operator(geo, kantor, rng)
    status = np.where(r.status[h] == NONAKTIF, NONAKTIF, AKTIF)
    phone = np.where(rng.random(k) < 0.15, r.phone[h], 0)
    home = geo.regency[r.fam_district[fam]]

    o = np.argsort(noka, kind="stable")
    fam, h, sex, birth, nik, rel, tok, ts, noka, kantor, op, status, phone, home, reg_day, religion_text = (
        fam[o],
        h[o],
        sex[o],
        birth[o],
        nik[o],
        rel[o],
        tok[o],
        ts[o],
        noka[o],
        kantor[o],
        op[o],
        status[o],
        phone[o],
        home[o],
        reg_day[o],
        religion_text.take(pa.array(o)),
    )
    nama, printed = nm.render_names(tok, np.full(k, -1), np.full(k, -1), draw(rng, (0.78, 0.17, 0.05), k))
    place = take(geo.regency_name, home)
    nulls = pa.nulls(k, pa.string())
    user = render_user(kantor, op)
    cols = {
        "NOKA": render_noka(noka),
        "PSNOKALAMA": nulls,
        "NIK": render_nik(nik),
        "NAMA": nama,
        "NMCETAK": printed,
        "JENKEL": take(("L", "P"), sex),
        "AGAMA": religion_text,
        "TMPLHR": where(rng.random(k) < 0.88, pc.utf8_upper(place), place),
        "TGLLHR": render_date(birth),
        "FLAGTANGGUNGAN": pa.array(["1"] * k, pa.string()),
        "NOHP": render_phone(phone, draw(rng, PHONE_STYLE_P, k)),
        "EMAIL": render_email(tok, birth, np.zeros(k, dtype=bool), rng),
        "NPWP": nulls,
        "ALAMAT": r.fam_address.take(pa.array(fam)),
        "KDHUBKEL": text(rel),
        "KDSTAWIN": pa.array(["1"] * k, pa.string()),
        "KDGOLDARAH": nulls,
        "KDSTATUSPST": take(STATUS, status),
        "KDKANTOR": digits(kantor, 4),
        "GAJI": nulls,
        "TMT": render_date(reg_day),
        "TSINPUT": render_ts(ts),
        "TSUPDATE": render_ts(ts),
        "USERINPUT": user,
        "USERUPDATE": user,
    }
    empty = np.zeros(0, dtype=np.int64)
    return Roster(
        noka=noka,
        fam=fam,
        rel=rel,
        sex=sex,
        birth=birth,
        nik=nik,
        status=status,
        gaji=np.zeros(k, dtype=np.int64),
        phone=phone,
        ts_in=ts,
        ts_up=ts.copy(),
        tok=tok,
        cols=cols,
        fam_district=empty,
        fam_kantor=empty,
        fam_segment=empty,
        fam_address=pa.array([], pa.string()),
        issued_nik=nik.copy(),
        used_slots=slots,
    )
