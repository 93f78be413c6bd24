"""docs/mapping.md documents the mapping file: every key the code accepts is on the page, every key on the
page is one the code accepts, and every example on the page loads. The README links the page."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.data.mapping import KEYS, RULE_KEYS, TABLE_KEYS, load_mapping

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "mapping.md").read_text()
SECTIONS = {"## Keys": KEYS, "## Code rules": RULE_KEYS, "## Reference tables": TABLE_KEYS}


def documented(section: str) -> list[str]:
    """The keys headed `### \\`key\\`` in one `## ` section of the page."""
    start = PAGE.index(section + "\n" if section + "\n" in PAGE else section)
    end = PAGE.find("\n## ", start + 1)
    return re.findall(r"^### `([a-z_]+)`$", PAGE[start:end if end > 0 else None], re.M)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_key_the_code_accepts_is_documented_and_no_other(section):
    keys = documented(section)
    assert len(keys) == len(set(keys)), keys
    assert set(keys) == set(SECTIONS[section])


EXAMPLES = re.findall(r"```yaml\n(.*?)```", PAGE, re.S)


def test_the_page_has_an_example_for_every_key():
    assert len(EXAMPLES) >= len(KEYS) + len(RULE_KEYS) + len(TABLE_KEYS)
    for section, keys in SECTIONS.items():
        start = PAGE.index(section)
        for key in keys:
            heading = PAGE.index(f"### `{key}`", start)
            following = PAGE.find("\n### ", heading + 1)
            assert "```yaml" in PAGE[heading:following], (section, key)


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_every_example_on_the_page_loads(tmp_path, number):
    (tmp_path / "map.yaml").write_text(EXAMPLES[number])
    load_mapping(tmp_path / "map.yaml")


def test_a_key_the_page_does_not_have_is_refused(tmp_path):
    """The check above is only as good as the loader's refusal of keys it does not know."""
    from analysis.core.errors import InputError

    for text in ("header_rows: 5\n", "values: {gender: {presets: nhs_person_stated_gender}}\n",
                 "reference: {characteristics: ethnicity}\n"):
        (tmp_path / "map.yaml").write_text(text)
        with pytest.raises(InputError):
            load_mapping(tmp_path / "map.yaml")


def test_the_readme_links_the_page():
    assert "(docs/mapping.md)" in (ROOT / "README.md").read_text()
