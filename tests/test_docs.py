"""Documentation checked by tests: the example config documents every setting (and is exactly
what config.example_toml() generates), and the README's command table names every command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from typer.main import get_command

from wirexa import config
from wirexa.cli.main import _register_optional, app

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "config" / "wirexa.example.toml"
README = ROOT / "README.md"


def toml_key(setting: config.Setting) -> tuple[str | None, str]:
    head, _, rest = setting.name.partition("_")
    return (head, rest) if head in config.SECTIONS else (None, setting.name)


def test_example_config_exists_and_is_generated() -> None:
    assert EXAMPLE.is_file()
    assert EXAMPLE.read_text(encoding="utf-8") == config.example_toml(), (
        "regenerate: python -c 'from wirexa import config; print(config.example_toml(), end=\"\")' > config/wirexa.example.toml"
    )


def test_example_config_documents_every_setting() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    for setting in config.SETTINGS:
        section, key = toml_key(setting)
        table = doc[section] if section else doc
        assert key in table, setting.name
        assert table[key] == setting.default, setting.name  # shown with its default
        assert f"# {setting.help} (env WIREXA_{setting.name.upper()})\n{key} = " in text, setting.name
    assert set(doc) - set(config.SECTIONS) == {toml_key(s)[1] for s in config.SETTINGS if toml_key(s)[0] is None}


def test_example_config_loads_to_the_defaults(tmp_path: Path) -> None:
    s = config.load(EXAMPLE, env={})
    for setting in config.SETTINGS:
        if setting.name not in config.MACHINE_SIZED:  # 0 in the file: sized from the machine
            assert getattr(s, setting.name) == setting.default, setting.name


def test_readme_names_every_command() -> None:
    _register_optional()
    text = README.read_text(encoding="utf-8")
    root = get_command(app)
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        if getattr(cmd, "hidden", False):
            continue
        assert f"`wirexa {name}" in text, name
        for sub in getattr(cmd, "commands", {}) or {}:
            assert re.search(rf"`wirexa {name} [^`]*\b{re.escape(sub)}\b", text), f"{name} {sub}"


def test_docs_stay_inside_the_repository() -> None:
    """A clone has no ../shared: the README, docs/ and code point only at files they ship."""
    texts = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "wirexa").rglob("*.py"))]
    outside = [str(p.relative_to(ROOT)) for p in texts if "../shared" in p.read_text(encoding="utf-8")]
    assert outside == []
    for name in re.findall(r"`(docs/[\w.]+\.md)`", README.read_text(encoding="utf-8")):
        assert (ROOT / name).is_file(), name
