"""`python -m bot.i18n`: update, check, init, template and import-json on a copy of the
catalogs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.i18n.catalogs import entries, forms_of, key_of
from bot.i18n.maintain import LOCALE_DIR, main, po_path, read, write


@pytest.fixture
def locale_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy)
    return copy


def _set_english(locale_dir: Path, key: str, text: str) -> None:
    english = read(locale_dir, "en")
    if key in english:
        english[key].string = text
    else:
        english.add(key, text)
    write(locale_dir, english)


def test_the_catalogs_are_what_update_writes(locale_dir: Path) -> None:
    """Nobody forgot `python -m bot.i18n update`: every English note in no.po is current."""
    assert main(["update"], locale_dir) == 0
    for language in ("en", "no"):
        assert (
            po_path(locale_dir, language).read_bytes() == po_path(LOCALE_DIR, language).read_bytes()
        )


def test_a_new_english_message_reaches_the_other_catalogs_untranslated(
    locale_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_english(locale_dir, "group.waved", "You waved at group `{pin}`.")

    assert main(["update"], locale_dir) == 0
    message = read(locale_dir, "no")["group.waved"]
    assert message.string == ""
    assert "English: You waved at group `{pin}`." in message.auto_comments

    assert main(["check"], locale_dir) == 1
    assert "untranslated: group.waved" in capsys.readouterr().out


def test_a_changed_english_text_marks_its_translation_fuzzy(locale_dir: Path) -> None:
    _set_english(locale_dir, "group.joined", "Welcome to group `{pin}`.")

    assert main(["update"], locale_dir) == 0
    message = read(locale_dir, "no")["group.joined"]
    assert message.fuzzy
    assert message.string == "Du er nå med i gruppe `{pin}`."  # kept for the translator
    assert main(["check"], locale_dir) == 1


def test_a_translation_whose_key_left_en_po_is_kept_aside(
    locale_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    english = read(locale_dir, "en")
    english.delete("group.joined")
    write(locale_dir, english)

    assert main(["update"], locale_dir) == 0
    norwegian = read(locale_dir, "no")
    assert "group.joined" not in norwegian
    assert norwegian.obsolete["group.joined"].string == "Du er nå med i gruppe `{pin}`."
    assert "obsolete: group.joined" in capsys.readouterr().out


def test_the_shipped_catalogs_are_complete(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "en: translated" in out and "no: translated" in out and "fuzzy 0, untranslated 0" in out


def test_init_starts_a_language_with_its_plural_forms(locale_dir: Path) -> None:
    """Polish has three plural forms: every plural message gets three empty ones."""
    assert main(["init", "pl"], locale_dir) == 0
    polish = read(locale_dir, "pl")
    assert polish.num_plurals == 3
    english = {key_of(m) for m in entries(read(locale_dir, "en"))}
    assert {key_of(m) for m in entries(polish)} == english
    assert forms_of(polish["count.uploads"]) == ("", "", "")


def test_template_writes_en_po_without_its_texts(locale_dir: Path, tmp_path: Path) -> None:
    pot = tmp_path / "handin.pot"
    assert main(["template", str(pot)], locale_dir) == 0
    text = pot.read_text(encoding="utf-8")
    assert 'msgid "group.joined"' in text
    assert "#. English: You joined group `{pin}`." in text
    assert 'msgstr "You joined' not in text


def test_import_json_adds_only_the_keys_a_catalog_lacks(locale_dir: Path, tmp_path: Path) -> None:
    """How messages from a branch that still has en.json/no.json are ported."""
    source = tmp_path / "no.json"
    source.write_text(
        json.dumps({"group.joined": "Annen tekst", "group.waved": "Du vinket til `{pin}`."}),
        encoding="utf-8",
    )

    assert main(["import-json", "no", str(source)], locale_dir) == 0
    norwegian = read(locale_dir, "no")
    assert norwegian["group.waved"].string == "Du vinket til `{pin}`."
    assert norwegian["group.waved"].auto_comments == ["Placeholders: {pin}"]
    assert norwegian["group.joined"].string == "Du er nå med i gruppe `{pin}`."
