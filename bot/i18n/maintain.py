"""`python -m bot.i18n`: keep the translations in step with en.po and show what is missing.

en.po is the template: its message ids are every key the bot uses, its texts the English.
`update` merges it into every other catalog, the way `pybabel update` merges a .pot file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from bot.i18n import DEFAULT, SUPPORTED, placeholders
from bot.i18n.catalogs import DOMAIN, entries, forms_of, key_of

# The source tree's catalogs (with `pip install -e .`, where a translator works).
LOCALE_DIR = Path(__file__).parent / "locale"
# pybabel's default line width: the files look the same whichever tool wrote them last.
WIDTH = 76
ENGLISH = "English: "


def po_path(locale_dir: Path, language: str) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(locale_dir: Path, language: str) -> Catalog:
    with po_path(locale_dir, language).open("rb") as fp:
        return read_po(fp, locale=language, domain=DOMAIN)


def write(locale_dir: Path, catalog: Catalog) -> None:
    path = po_path(locale_dir, str(catalog.locale_identifier))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fp:
        write_po(fp, catalog, width=WIDTH, sort_output=False)


def english_note(message: Message) -> str:
    return ENGLISH + " | ".join(forms_of(message))


def template(english: Catalog) -> Catalog:
    """en.po without its texts: what a new or updated translation starts from. Each message
    keeps en.po's comments and gets its English text as one more, for the translator."""
    pot = Catalog(
        domain=DOMAIN,
        project=english.project,
        version=english.version,
        creation_date=english.creation_date,
    )
    for message in entries(english):
        empty: str | tuple[str, ...] = "" if isinstance(message.id, str) else ("", "")
        # Last, so that _note_of finds all of it.
        notes = [*message.auto_comments, english_note(message)]
        pot.add(message.id, empty, auto_comments=notes)
    return pot


def update(locale_dir: Path, language: str, pot: Catalog) -> dict[str, list[str]]:
    """Merge `pot` into `language`'s catalog; returns the keys it `added`, the translations it
    marked `fuzzy`, and those it made `obsolete` (kept at the end as `#~` entries, as pybabel
    does, so a translation of a key en.po lacks is never lost).

    Message ids are keys, so a changed English text keeps its id: a translation is marked fuzzy
    when the English note it was made from differs from the new one (a translation with no
    note yet is taken as current). Fuzzy matching of ids is off: similar keys say nothing
    about similar texts."""
    catalog = read(locale_dir, language)
    made_from = {key_of(m): _note_of(m) for m in entries(catalog)}
    catalog.update(pot, no_fuzzy_matching=True, update_creation_date=False)
    changes: dict[str, list[str]] = {"added": [], "fuzzy": [], "obsolete": []}
    for message in entries(catalog):
        key = key_of(message)
        if key not in made_from:
            changes["added"].append(key)
        elif made_from[key] not in (None, _note_of(message)) and any(forms_of(message)):
            message.flags.add("fuzzy")
            changes["fuzzy"].append(key)
    changes["obsolete"] = [key for key in made_from if key not in catalog]
    write(locale_dir, catalog)
    return changes


def _note_of(message: Message) -> str | None:
    """The English note, whitespace normalized: write_po wraps a long note over several comment
    lines, and read_po gives them back one by one."""
    comments = message.auto_comments
    start = next((i for i, c in enumerate(comments) if c.startswith(ENGLISH)), None)
    return None if start is None else " ".join(" ".join(comments[start:]).split())


def init(locale_dir: Path, language: str, pot: Catalog) -> Path:
    """A new, empty catalog for `language` with its plural rule (from Babel's locale data)."""
    path = po_path(locale_dir, language)
    if path.exists():
        raise SystemExit(f"{path} exists already; run `python -m bot.i18n update` instead")
    catalog = Catalog(locale=language, domain=DOMAIN, project=pot.project, version=pot.version)
    catalog.update(pot, no_fuzzy_matching=True)
    write(locale_dir, catalog)
    return path


def missing(catalog: Catalog) -> dict[str, list[str]]:
    """Keys not ready to show, by reason: `untranslated` (a form is empty) and `fuzzy`."""
    found: dict[str, list[str]] = {"untranslated": [], "fuzzy": []}
    for message in entries(catalog):
        if not all(forms_of(message)):
            found["untranslated"].append(key_of(message))
        elif message.fuzzy:
            found["fuzzy"].append(key_of(message))
    return found


def import_json(locale_dir: Path, language: str, source: Path) -> list[str]:
    """Add the keys of a JSON catalog (`{"key": "text"}`, the old format) that `language`'s
    catalog lacks; returns them. For porting messages from branches older than the .po files."""
    texts: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    catalog = read(locale_dir, language)
    added = [key for key in texts if key not in catalog]
    for key in added:
        names = sorted(placeholders(texts[key]))
        notes = [f"Placeholders: {', '.join('{' + n + '}' for n in names)}"] if names else []
        catalog.add(key, texts[key], auto_comments=notes)
    write(locale_dir, catalog)
    return added


def _print_keys(label: str, keys: Iterable[str]) -> None:
    for key in keys:
        print(f"  {label}: {key}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.i18n",
        description="Maintain the message catalogs in bot/i18n/locale/ (one .po file per "
        "language; en.po holds the English and every message id).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "update", help="add new messages from en.po to every language, set removed ones aside"
    )
    commands.add_parser("check", help="list what is untranslated or fuzzy; exit 1 if anything")
    new = commands.add_parser("init", help="start the catalog of a new language")
    new.add_argument("language", help="a language code, e.g. de, sv, nn")
    pot = commands.add_parser("template", help="write en.po without its texts as a .pot file")
    pot.add_argument("path", type=Path, help="where to write it, e.g. handin.pot")
    port = commands.add_parser(
        "import-json", help="add the messages of an old JSON catalog that a language lacks"
    )
    port.add_argument("language", help="the catalog to add them to, e.g. en or no")
    port.add_argument("path", type=Path, help="the JSON file")
    return parser


def main(argv: list[str] | None = None, locale_dir: Path = LOCALE_DIR) -> int:
    args = _parser().parse_args(argv)
    pot = template(read(locale_dir, DEFAULT))
    if args.command == "update":
        for language in SUPPORTED:
            if language != DEFAULT:
                changes = update(locale_dir, language, pot)
                counts = ", ".join(f"{reason} {len(keys)}" for reason, keys in changes.items())
                print(f"{language}: {counts}")
                for reason, keys in changes.items():
                    _print_keys(reason, keys)
        return 0
    if args.command == "check":
        return _check(locale_dir)
    if args.command == "init":
        print(f"created {init(locale_dir, args.language, pot)}")
        return 0
    if args.command == "template":
        with args.path.open("wb") as fp:
            write_po(fp, pot, width=WIDTH, sort_output=False)
        return 0
    added = import_json(locale_dir, args.language, args.path)
    print(f"{args.language}: added {len(added)}")  # then `update` gives the others the new keys
    _print_keys("added", added)
    return 0


def _check(locale_dir: Path) -> int:
    incomplete = False
    for language in SUPPORTED:
        catalog = read(locale_dir, language)
        found = missing(catalog)
        total = sum(1 for _ in entries(catalog))
        ready = total - len(found["untranslated"]) - len(found["fuzzy"])
        print(
            f"{language}: translated {ready}/{total}, fuzzy {len(found['fuzzy'])}, "
            f"untranslated {len(found['untranslated'])}"
        )
        for reason, keys in found.items():
            _print_keys(reason, keys)
        incomplete = incomplete or ready < total
    return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
