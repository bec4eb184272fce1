"""The documents a user reads: every link in the README and the evaluation page leads to a
file in the repository (none outside it), the README starts with the app and keeps the
developer set-up for later, the pictures it shows exist, and the licence is stated in the
LICENSE file and the package metadata alike."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "resources" / "EVALUATION.md"]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_inside_the_repository(doc):
    links = [target for target in LINK.findall(doc.read_text(encoding="utf-8")) if "://" not in target]
    assert links, f"{doc.name} links to nothing"
    for target in links:
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"


def test_the_readme_starts_with_the_app_and_leaves_the_developer_set_up_for_later():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Get the app and start it" and headings[-1] == "## For developers"
    for needed in ("What your computer needs", "Your first session, in pictures", "Words used here",
                   "When something goes wrong", "Licence"):
        assert any(needed in h for h in headings), needed
    assert text.index("superhf-studio --self-test") < text.index("make run    #")
    assert "studio.log" in text  # where the logs are


def test_the_licence_is_the_same_in_the_file_and_the_package_metadata():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
