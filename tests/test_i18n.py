"""Every text comes from the catalogs, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app import FEATURES
from bot.i18n import LOCALES, catalog, translate
from handlers.feature import FeatureSet
from handlers.soon import PLACEHOLDERS

ROOT = Path(__file__).resolve().parent.parent
KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""")
KEY_ERROR = re.compile(r"""DomainError\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


def keys_used_in_code() -> set[str]:
    keys: set[str] = set()
    for package in ("handlers", "models", "bot"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            keys.update(KEY_CALL.findall(source))
            keys.update(KEY_ERROR.findall(source))
    features = FeatureSet(FEATURES)
    keys.update(item.label_key for item in features.menu_items)
    keys.update(command.description_key for command in features.commands)
    coming_soon = [f.name for f in PLACEHOLDERS]
    keys.update(f"feature.{name}" for name in (*coming_soon, "tasks", "broadcast"))
    keys.update(f"clarify.opt_{i}" for i in features.detector.intents if i != "unknown")
    keys.update(
        f"role.{r}" for r in ("resident", "volunteer", "representative", "grid_leader", "manager")
    )
    return keys


def test_both_catalogs_have_the_same_keys() -> None:
    assert set(catalog("zh")) == set(catalog("en"))


def test_every_key_the_code_uses_is_translated() -> None:
    used = keys_used_in_code()
    assert len(used) > 60
    for locale in LOCALES:
        assert used - set(catalog(locale)) == set(), locale


def test_placeholders_match_between_languages() -> None:
    field = re.compile(r"{(\w*)}")
    for key, zh in catalog("zh").items():
        assert sorted(field.findall(zh)) == sorted(field.findall(catalog("en")[key])), key


def test_chinese_is_the_default_and_unknown_locales_fall_back_to_it() -> None:
    assert translate("zh", "flow.cancelled") == "已取消。"
    assert translate("fr", "flow.cancelled") == "已取消。"
    assert translate("en", "flow.cancelled") == "Cancelled."


def test_no_key_is_defined_twice_in_a_catalog() -> None:
    """A second definition silently wins: two engineers' blocks could disagree unseen."""
    for locale in LOCALES:
        po = ROOT / "bot" / "locale" / locale / "LC_MESSAGES" / "linli.po"
        keys = re.findall(r'^msgid "(.+)"$', po.read_text(encoding="utf-8"), re.M)
        twice = sorted({k for k in keys if keys.count(k) > 1})
        assert twice == [], f"{po.name} ({locale}) defines these keys twice: {twice}"
