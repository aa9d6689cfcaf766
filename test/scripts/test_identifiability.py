"""docs/identifiability.md's check on samples that played no part in the defaults is what the code measures now
(to within 3 points: float32 sums and numpy versions move a few noisy pixels across a limit)."""
import os
import re
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import identifiability  # noqa: E402

ROW = re.compile(r"^\| (?P<key>[^|]+\|[^|]+\|[^|]+\|[^|]+)\| (?P<right>\d+%|-) \| (?P<other>\d+%|-) \| "
                 r"(?P<none>\d+%|-) \|$")


def rows(lines):
    """{sensor | mineral | samples | class: [right, other, unclassified] in whole percent, None where refused}"""
    return {m["key"]: [None if m[k] == "-" else int(m[k][:-1]) for k in ("right", "other", "none")]
            for m in map(ROW.match, lines) if m}


def test_the_held_out_check_in_the_docs_is_current():
    with open(os.path.join(ROOT, "docs", "identifiability.md")) as f:
        written = f.read()
    written = rows(written[written.index("## Samples that played no part"):].splitlines())
    measured = rows(identifiability.held_out_section())
    assert written.keys() == measured.keys() and len(measured) >= 30, "stale: run scripts/identifiability.py"
    for key, shares in measured.items():
        assert all(a == b if None in (a, b) else abs(a - b) <= 3 for a, b in zip(shares, written[key])), \
            (key, shares, written[key])
