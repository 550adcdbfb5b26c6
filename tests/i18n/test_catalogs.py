"""The message catalogs: every language complete and alike (keys, plural forms, placeholders),
every key the code uses present, every slash command, subcommand and option localized into
Norwegian within Discord's limits, and en.po's command texts the commands' own."""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot
import cogs
from bot.client import HandinBot
from bot.config import Config
from bot.domain.errors import DomainError
from bot.domain.models import AssignmentState, GroupMode, ReminderReason
from bot.i18n import SUPPORTED, pick_locale, placeholders, t, tn
from bot.i18n.catalogs import entries, forms_of, key_of, po_catalog

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "cogs", ROOT / "bot"]
SKIPPED_SOURCES = {ROOT / "bot" / "i18n", ROOT / "bot" / "sandbox"}

# Keys the code builds at run time (f-strings), expanded from what they are built from.
COMPUTED_KEYS = (
    [f"state.{s.value}" for s in AssignmentState]
    + [f"rules.mode.{m.value}" for m in GroupMode]
    + [f"ready.how.{m.value}" for m in GroupMode]
    + [f"reminder.dm.{r.value}" for r in ReminderReason]
    # cogs/_embeds.py: the kinds recorded by misc_repo.record_undelivered.
    + [f"dm.kind.{kind}" for kind in ("receipt", "reminder", "notice")]
    # cogs/staff_assignments.py `_summary(..., what)`.
    + [f"assignment.{what}" for what in ("created", "edited")]
    # bot/services/groups.py: f"csv.member_{MemberRefError.reason}".
    + [f"csv.member_{reason}" for reason in ("unknown", "ambiguous")]
)
# Keys that are single words, so the dotted-key scan does not see them.
PLAIN_KEYS = ["yes", "no", "off", "none"]

NAME = re.compile(r"^[-_\w]{1,32}$")
SAMPLE = {
    "user_id": 123456789012345678,
    "holder": 123456789012345678,
    "role_id": 42,
    "when": datetime(2026, 12, 4, 23, 59, tzinfo=UTC),
    "until": datetime(2026, 12, 4, 23, 59, tzinfo=UTC),
    "deadline": datetime(2026, 12, 4, 23, 59, tzinfo=UTC),
    "closes": datetime(2026, 12, 4, 23, 59, tzinfo=UTC),
    "opens": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
    "opens_at": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
    "late_until": datetime(2026, 12, 5, 8, 0, tzinfo=UTC),
    "sent": datetime(2026, 12, 4, 23, 0, tzinfo=UTC),
}


def texts(locale: str) -> dict[str, tuple[str, ...]]:
    """Every message of the `.po` file, translated or not: key to its form(s)."""
    return {key_of(m): forms_of(m) for m in entries(po_catalog(locale))}


def message_keys(locale: str) -> set[str]:
    return {key for key in texts(locale) if not key.startswith(("cmd.", "choice."))}


def plural_keys() -> set[str]:
    return {key for key, forms in texts("en").items() if len(forms) > 1}


# --- the catalogs --------------------------------------------------------------------------


@pytest.mark.parametrize("locale", SUPPORTED)
def test_catalogs_have_the_same_keys(locale: str) -> None:
    en, other = set(texts("en")), set(texts(locale))
    assert sorted(en - other) == [], f"missing in {locale}.po"
    assert sorted(other - en) == [], f"in {locale}.po but not in en.po"


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_message_is_translated(locale: str) -> None:
    """Nothing empty, fuzzy or left with stray whitespace (`python -m bot.i18n check`)."""
    for message in entries(po_catalog(locale)):
        key = key_of(message)
        assert not message.fuzzy, f"{key} is fuzzy"
        for form in forms_of(message):
            assert form.strip(), f"{key} is not translated"
            assert form == form.strip(), f"{key} has leading or trailing whitespace"


@pytest.mark.parametrize("locale", SUPPORTED)
def test_plural_messages_have_the_forms_of_their_language(locale: str) -> None:
    wanted = po_catalog(locale).num_plurals
    for key, forms in texts(locale).items():
        expected = wanted if key in plural_keys() else 1
        assert len(forms) == expected, f"{key}: {len(forms)} form(s), not {expected}"


@pytest.mark.parametrize("key", sorted(plural_keys()))
def test_every_plural_message_shows_its_count(key: str) -> None:
    for locale in SUPPORTED:
        for form in texts(locale)[key]:
            assert "count" in placeholders(form), f"{locale}: {form!r}"


@pytest.mark.parametrize("key", sorted(message_keys("en")))
def test_placeholders_match(key: str) -> None:
    expected = placeholders(texts("en")[key][-1])
    for locale in SUPPORTED:
        assert key in texts(locale), f"missing in {locale}.po"
        for form in texts(locale)[key]:
            assert placeholders(form) == expected, f"{locale}: {form!r}"


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_key_renders(locale: str) -> None:
    for key, forms in texts(locale).items():
        params = {name: SAMPLE.get(name, f"<{name}>") for name in placeholders(forms[-1])}
        params.pop("count", None)
        for count in (0, 1, 2, 5) if key in plural_keys() else (None,):
            text = t(locale, key, **params) if count is None else tn(locale, key, count, **params)
            assert text, key
            assert "{" not in text and "}" not in text, f"{key} left a brace: {text!r}"


# --- keys used in the code -----------------------------------------------------------------


def _source_files() -> Iterator[Path]:
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            if not any(path.is_relative_to(skipped) for skipped in SKIPPED_SOURCES):
                yield path


def _literal_keys() -> set[str]:
    prefixes = sorted({key.split(".")[0] for key in message_keys("en") if "." in key})
    pattern = re.compile(rf"""["']((?:{"|".join(prefixes)})(?:\.[a-z_]+)+)["']""")
    found: set[str] = set()
    for path in _source_files():
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def _import_everything() -> None:
    """Import every module of the bot so that every DomainError subclass is defined."""
    for package in (bot, cogs):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def _error_classes(base: type[DomainError] = DomainError) -> Iterator[type[DomainError]]:
    yield base
    for sub in base.__subclasses__():
        yield from _error_classes(sub)


def test_the_scan_finds_keys() -> None:
    found = _literal_keys()
    assert {"group.joined", "csv.line", "error.unexpected", "status.late_tag"} <= found


def test_every_literal_key_in_the_code_exists() -> None:
    assert sorted(_literal_keys() - set(texts("en"))) == []


def _calls(function: str) -> set[str]:
    """Keys given literally to `function(locale, "key", ...)` anywhere in the code."""
    pattern = re.compile(rf"""\b{function}\(\s*[\w.]+,\s*["']([\w.]+)["']""")
    found: set[str] = set()
    for path in _source_files():
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_plural_messages_are_rendered_with_their_count() -> None:
    """`t` on a plural message would show its general form ("1 uploads"); `tn` on a singular
    one would ignore the count."""
    assert {"count.uploads", "rules.max_group_size"} <= _calls("tn")
    assert sorted(_calls("t") & plural_keys()) == []
    assert sorted(_calls("tn") - plural_keys()) == []


def test_every_computed_key_exists() -> None:
    assert sorted(set(COMPUTED_KEYS + PLAIN_KEYS) - set(texts("en"))) == []


def test_every_domain_error_key_exists() -> None:
    _import_everything()
    classes = list(_error_classes())
    assert len(classes) > 40
    missing = sorted(f"{c.__name__}: {c.key}" for c in classes if c.key not in texts("en"))
    assert missing == []


# --- slash commands ------------------------------------------------------------------------


@pytest.fixture
async def payloads(tmp_path: Path) -> AsyncIterator[list[dict[str, Any]]]:
    """The commands as they would be synced: with their translations."""
    config = Config(
        token="x",
        data_dir=tmp_path,
        log_level="INFO",
        api_base="http://127.0.0.1:1/api/v10",
        gateway_url=None,
    )
    client = HandinBot(config)

    async def no_sync(*args: Any, **kwargs: Any) -> list[Any]:
        return []

    client.tree.sync = no_sync  # type: ignore[method-assign]
    try:
        await client.setup_hook()
        translator = client.tree.translator
        assert translator is not None
        yield [
            await command.get_translated_payload(client.tree, translator)
            for command in client.tree.get_commands()
        ]
    finally:
        await client.close()


def _walk(
    options: list[dict[str, Any]], path: str = ""
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(where, siblings) for the top-level commands and every level of options below."""
    yield path or "/", options
    for option in options:
        children = option.get("options") or []
        if children:
            yield from _walk(children, f"{path}/{option['name']}")


def _valid_name(name: str) -> bool:
    """Discord: `^[-_\\p{L}\\p{N}]{1,32}$`, lowercase where a letter has a lowercase form."""
    if not NAME.match(name) or name != name.lower():
        return False
    return all(ch in "-_" or unicodedata.category(ch)[0] in "LN" for ch in name)


async def test_every_command_and_option_has_a_norwegian_name_and_description(
    payloads: list[dict[str, Any]],
) -> None:
    problems: list[str] = []
    seen = 0
    for where, siblings in _walk(payloads):
        names: dict[str, str] = {}
        for item in siblings:
            seen += 1
            label = f"{where.rstrip('/')}/{item['name']}"
            name = item.get("name_localizations", {}).get("no")
            description = item.get("description_localizations", {}).get("no")
            if name is None:
                problems.append(f"{label}: no Norwegian name")
            elif not _valid_name(name):
                problems.append(f"{label}: invalid name {name!r}")
            elif name in names:
                problems.append(f"{label}: name {name!r} also used by {names[name]}")
            else:
                names[name] = item["name"]
            if description is None:
                problems.append(f"{label}: no Norwegian description")
            elif not 1 <= len(description) <= 100:
                problems.append(f"{label}: description has {len(description)} characters")
            for choice in item.get("choices", []):
                translated = choice.get("name_localizations", {}).get("no")
                if translated is None or not 1 <= len(translated) <= 100:
                    problems.append(f"{label}: choice {choice['value']!r} not localized")
    assert problems == []
    assert seen > 80  # commands, subcommands and options


def _command_texts(payloads: list[dict[str, Any]]) -> dict[str, str]:
    """`cmd.*` and `choice.*` keys of the synced commands, with their English text."""
    english: dict[str, str] = {}

    def visit(options: list[dict[str, Any]], prefix: str) -> None:
        for item in options:
            if item.get("type") in (1, 2) or not prefix:  # a command or group
                qualified = f"{prefix} {item['name']}".strip()
                base = f"cmd.{qualified}"
                visit(item.get("options") or [], qualified)
            else:
                base = f"cmd.{prefix}.opt.{item['name']}"
                english.update({f"choice.{c['value']}": c["name"] for c in item.get("choices", [])})
            english[f"{base}.name"] = item["name"]
            english[f"{base}.description"] = item["description"]

    visit(payloads, "")
    return english


async def test_every_command_key_in_the_catalogs_is_a_command(
    payloads: list[dict[str, Any]],
) -> None:
    """No stale keys and none missing: the `cmd.*` / `choice.*` keys are the commands'."""
    declared = set(texts("en")) - message_keys("en")
    used = set(_command_texts(payloads))
    assert sorted(declared - used) == []
    assert sorted(used - declared) == []


async def test_en_po_shows_translators_the_commands_english(
    payloads: list[dict[str, Any]],
) -> None:
    """Discord shows the docstrings' English; en.po repeats it for translators, so it must
    follow a changed docstring."""
    english = _command_texts(payloads)
    stale = {key: text for key, text in english.items() if texts("en").get(key) != (text,)}
    assert stale == {}


def _localized(item: dict[str, Any], locale: str) -> str:
    name: str = item["name"] if locale == "en" else item["name_localizations"][locale]
    return name


def _command_names(payloads: list[dict[str, Any]], locale: str) -> dict[str, dict[str, set[str]]]:
    """{command: {subcommand or "": its option names}} as a client in `locale` shows them."""
    commands: dict[str, dict[str, set[str]]] = {}
    for command in payloads:
        subs = commands.setdefault(_localized(command, locale), {})
        for option in command.get("options") or []:
            if option["type"] == 1:
                subs[_localized(option, locale)] = {
                    _localized(o, locale) for o in option.get("options") or []
                }
            else:
                subs.setdefault("", set()).add(_localized(option, locale))
    return commands


def _command_references(text: str) -> Iterator[list[str]]:
    """`/gruppe bli-med bytt:true` -> ["gruppe", "bli-med", "bytt:true"], up to the prose."""
    for match in re.finditer(r"(?:^|(?<=[\s`(]))/([^\s`.,;:)]+)", text):
        tail = re.match(r"[^`\n]*", text[match.end() :])
        assert tail is not None
        yield [match.group(1), *tail.group(0).split()]


@pytest.mark.parametrize("locale", SUPPORTED)
async def test_replies_name_commands_and_options_that_exist(
    payloads: list[dict[str, Any]], locale: str
) -> None:
    """`/group join` in English replies, `/gruppe bli-med` in Norwegian ones: each command,
    subcommand and `option:` a reply names is what that reader's Discord client shows."""
    commands = _command_names(payloads, locale)
    problems: list[str] = []
    checked = 0
    for key in sorted(message_keys(locale)):
        for top, *rest in _command_references(" ".join(texts(locale)[key])):
            checked += 1
            if top not in commands:
                problems.append(f"{key}: no command /{top}")
                continue
            subs = commands[top]
            options = subs.get("", set())
            if "" not in subs and subs:
                sub = rest[0].rstrip(".,;:)") if rest else ""
                if sub not in subs:
                    problems.append(f"{key}: /{top} has no subcommand {sub!r}")
                    continue
                options, rest = subs[sub], rest[1:]
            for word in rest:
                if ":" not in word:
                    break
                if word.split(":")[0] not in options:
                    problems.append(f"{key}: /{top} has no option {word!r}")
    assert problems == []
    assert checked > 20


# --- choosing the locale -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "guild", "expected"),
    [
        ("no", None, "no"),
        ("fr", "no", "no"),
        ("fr", None, "en"),
        ("en-US", "no", "en"),
        ("en-GB", None, "en"),
        (None, "no", "no"),
        (None, None, "en"),
        ("nb", None, "no"),
    ],
)
def test_pick_locale(user: str | None, guild: str | None, expected: str) -> None:
    assert pick_locale(user, guild) == expected
