"""Turn the tables of the team's xds-value-sets.md into the compact JSON of cdacheck/data/xds.

Usage: python scripts/gen_xds_tables.py [path/to/xds-value-sets.md]
(default: ../shared/spec/xds-value-sets.md next to the repository).
"""
import json, re, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
if any(a in ("-h", "--help") for a in sys.argv[1:]):
    print(__doc__)
    sys.exit(0)
spec = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared" / "spec" / "xds-value-sets.md").read_text()
out = ROOT / "cdacheck" / "data" / "xds"; out.mkdir(parents=True, exist_ok=True)
lines = spec.splitlines()
def section(title):
    start = next(i for i, l in enumerate(lines) if l.startswith(title))
    rows = []
    for l in lines[start+1:]:
        if l.startswith("#"):
            break
        if l.startswith("|") and not set(l) <= set("|-: "):
            rows.append([c.strip() for c in l.strip().strip("|").split("|")])
        elif rows and not l.startswith("|"):
            break
    return rows[1:]  # drop header
def clean(s): return s.replace("`", "").replace("**", "").strip()
# J06
j06 = {}
for r in section("## 2. classCode"):
    code, scheme, disp, inj06, inj57 = map(clean, r[:5])
    j06[code] = {"scheme": scheme, "display": disp, "dmp": inj57 == "yes"}
# J10 / J60
fmt = {}
for r in section("### 3.1 JDV_J10"):
    code, scheme, disp, j10, j60 = map(clean, r[:5])
    fmt[code] = {"scheme": scheme, "display": disp, "j10": j10 == "yes", "j60": j60 == "yes"}
retired = {}
for r in section("### 3.2 Retired formatCodes"):
    retired[clean(r[0])] = clean(r[2])
a11 = {}
for r in section("### 3.4 ASS_A11"):
    tid, model, _t, code, scheme = map(clean, r[:5])
    a11[tid] = {"format": code, "scheme": scheme, "model": model}
    fmt.setdefault(code, {"scheme": scheme, "display": model, "j10": False, "j60": False, "a11": True})
a12 = {}
for r in section("### 3.5 N1 documents"):
    _tid, media, code, scheme = map(clean, r[:4])
    a12[media] = {"format": code, "scheme": scheme}
x04 = {}
for r in section("### 4.4 Full table"):
    _n, tc, tcs, disp, cc, ccs = map(clean, r[:6])
    x04[tc] = {"scheme": tcs, "class": cc, "class_scheme": ccs, "display": "" if disp == "—" else disp}
j08 = {}
for r in section("## 6. confidentialityCode"):
    if len(r) >= 4 and r[1].count(".") > 3:
        j08[clean(r[0])] = {"scheme": clean(r[1]), "display": clean(r[2]), "first": clean(r[1]) == "2.16.840.1.113883.5.25"}
prov = "cdacheck's own transcription of /work/shared/spec/xds-value-sets.md (code lists are facts)"
def dump(name, version, data):
    (out / name).write_text(json.dumps({"source": prov, "version": version, "codes": data},
                                       ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
dump("j06_class_code.json", "J06 20230922120000 / J57 20230922120000", j06)
dump("j10_format_code.json", "J10 NOS 2024-04, J60 20240927120000, ASS_A11 targets", {"formats": fmt, "retired": retired})
dump("a11_model_format.json", "ASS_A11 union of NOS 2024-01-26, 2026-02-10, 2026-06-29; ASS_A12", {"templates": a11, "media": a12})
dump("x04_type_class.json", "ASS_X04 20240426120000", x04)
dump("j08_confidentiality.json", "J08 2020-04-24", j08)
print(len(j06), len(fmt), len(retired), len(a11), len(a12), len(x04), len(j08))
