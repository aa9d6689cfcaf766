"""docs/identifiability.md's check on samples that played no part in the defaults is what the code measures now."""
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import identifiability  # noqa: E402


def test_the_held_out_check_in_the_docs_is_current():
    with open(os.path.join(ROOT, "docs", "identifiability.md")) as f:
        written = f.read()
    section = "\n".join(identifiability.held_out_section())
    assert section in written, "docs/identifiability.md is stale: run scripts/identifiability.py"

