"""The message catalogs: both locales complete and alike, every key the code uses present, every
slash command, subcommand and option localized into Norwegian within Discord's limits."""

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
from bot.i18n import SUPPORTED, catalog, pick_locale, placeholders, t

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


def message_keys(locale: str) -> set[str]:
    return {key for key in catalog(locale) if not key.startswith(("cmd.", "choice."))}


# --- the two catalogs ----------------------------------------------------------------------


def test_catalogs_have_the_same_keys() -> None:
    en, no = set(catalog("en")), set(catalog("no"))
    assert sorted(message_keys("en") - no) == [], "missing in no.json"
    assert sorted(message_keys("no") - en) == [], "in no.json but not in en.json"
    # en.json holds no command keys: English comes from the commands' docstrings.
    assert sorted(en - message_keys("en")) == []


@pytest.mark.parametrize("key", sorted(message_keys("en")))
def test_placeholders_match(key: str) -> None:
    assert key in catalog("no"), "missing in no.json"
    assert placeholders(catalog("no")[key]) == placeholders(catalog("en")[key])


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_value_is_a_nonempty_string(locale: str) -> None:
    for key, value in catalog(locale).items():
        assert isinstance(value, str), key
        assert value.strip(), key
        assert value == value.strip(), f"{key} has leading or trailing whitespace"


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_key_renders(locale: str) -> None:
    for key, template in catalog(locale).items():
        params = {name: SAMPLE.get(name, f"<{name}>") for name in placeholders(template)}
        text = t(locale, key, **params)
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
    assert sorted(_literal_keys() - set(catalog("en"))) == []


def test_every_computed_key_exists() -> None:
    assert sorted(set(COMPUTED_KEYS + PLAIN_KEYS) - set(catalog("en"))) == []


def test_every_domain_error_key_exists() -> None:
    _import_everything()
    classes = list(_error_classes())
    assert len(classes) > 40
    missing = sorted(f"{c.__name__}: {c.key}" for c in classes if c.key not in catalog("en"))
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


async def test_every_command_key_in_no_json_is_used(payloads: list[dict[str, Any]]) -> None:
    """No stale keys: each `cmd.*` / `choice.*` key matches a command, option or choice."""
    used: set[str] = set()

    def visit(options: list[dict[str, Any]], prefix: str) -> None:
        for item in options:
            if item.get("type") in (1, 2) or not prefix:  # a command or group
                qualified = f"{prefix} {item['name']}".strip()
                used.update({f"cmd.{qualified}.name", f"cmd.{qualified}.description"})
                visit(item.get("options") or [], qualified)
            else:
                base = f"cmd.{prefix}.opt.{item['name']}"
                used.update({f"{base}.name", f"{base}.description"})
                used.update(f"choice.{c['value']}" for c in item.get("choices", []))

    visit(payloads, "")
    declared = set(catalog("no")) - message_keys("no")
    assert sorted(declared - used) == []
    assert sorted(used - declared) == []


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
        for top, *rest in _command_references(catalog(locale)[key]):
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
