"""Documentation stays true: every environment variable read by the settings is documented."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def settings_variables() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r'env\.(?:str|bool|int|float|list|db_url|url)\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_every_settings_variable_is_documented():
    documented = (ROOT / "docs" / "configuration.md").read_text()
    variables = settings_variables()
    assert len(variables) > 40
    missing = sorted(v for v in variables if f"`{v}`" not in documented)
    assert missing == []


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text()[:800]
    assert "make run" in head and "make test" in head
