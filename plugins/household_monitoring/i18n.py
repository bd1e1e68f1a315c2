"""Language of everything people read: gettext catalogs managed with Babel.

The source strings are English; translations live in gettext ``.po`` files in the repository::

    plugins/household_monitoring/locale/<domain>.cfg                     Babel mapping: which files hold the strings
    plugins/household_monitoring/locale/<domain>.pot                     the extracted template (generated)
    plugins/household_monitoring/locale/<language>/LC_MESSAGES/<domain>.po   the translation (edited by people)

One *domain* per area (``report``, ``superset``, ...), so that two people adding strings to two areas
never edit the same file. ``translator()`` loads every domain of a language at once: a module does not
need to know in which catalog its strings live.

The language comes from ``HM_LANGUAGE`` (default ``zh_CN``, Simplified Chinese, for the county,
township and village officials who act on the warnings; ``en`` is the source language).
``zh``, ``zh-CN``, ``zh_Hans_CN`` and ``en_US`` are accepted too.

``.po`` files are compiled in memory on first use (Babel ``read_po`` then ``write_mo``, ~10 ms per
catalog) rather than committed as ``.mo`` binaries or compiled at install: nothing binary in git,
nothing to forget to recompile, the installed package (editable install) reads the same files.

Adding strings (any module)::

    from household_monitoring.i18n import translator
    t = translator()              # or translator("en")
    _ = t.gettext
    title = _("Open warnings by township")
    text = t.ngettext("{n} overdue visit", "{n} overdue visits", n).format(n=n)

Mark module-level constants with ``N_("...")`` (returns the text unchanged; ``_(CONSTANT)`` translates
it later). Then, from the repository root::

    .venv/bin/hm i18n update      # extract every domain into its .pot, merge into each language's .po
    (edit the new msgstr "" entries in locale/zh_CN/LC_MESSAGES/<domain>.po)
    .venv/bin/hm i18n check       # what the test suite checks: templates current, nothing untranslated

A new area adds ``locale/<domain>.cfg`` (a Babel mapping file listing its source files, relative to the
repository root) and runs ``hm i18n update``; a new language runs ``hm i18n init <language>``.
``hm i18n update`` is the same as ``pybabel extract -F locale/<domain>.cfg -o locale/<domain>.pot
--sort-output --add-location=file -c TRANSLATORS: .`` then ``pybabel update`` per language.

Names of data values are data, not program text: risk factors (national code list), warning levels
and income bands come from dbt seeds with one ``name_<language>`` column per language
(``dbt_project/seeds/risk_factors.csv``, ``warning_levels.csv``, ``income_band_names.csv``), so that the
reporting views (dbt macro ``localized_name``, same ``HM_LANGUAGE``), the report and the dashboard show the
same names; ``seed_name()`` and ``Translator.risk_factor``/``level`` read them.
"""

from __future__ import annotations

import csv
import gettext
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

#: Language of the source strings (msgids).
SOURCE_LANGUAGE = "en"
#: Language when ``HM_LANGUAGE`` is not set.
DEFAULT_LANGUAGE = "zh_CN"
#: The folder of the catalogs.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: The dbt seeds, some with one name column per language (risk_factors, warning_levels, income_band_names).
SEEDS_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
#: Comment tag for notes to translators: ``# TRANSLATORS: ...`` on the line before the string.
COMMENT_TAG = "TRANSLATORS:"


class I18nError(ValueError):
    """An unknown language, a missing or broken catalog, or an untranslated risk factor."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (module-level constants)."""
    return message


def available_languages() -> list[str]:
    """Languages with a catalog folder (``locale/<language>/LC_MESSAGES``), plus the source language."""
    found = sorted(p.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES") if p.is_dir())
    return [SOURCE_LANGUAGE, *[lang for lang in found if lang != SOURCE_LANGUAGE]]


def domains() -> list[str]:
    """The catalog domains: one per mapping file ``locale/<domain>.cfg``."""
    return sorted(p.stem for p in LOCALE_DIR.glob("*.cfg"))


def resolve_language(language: str | None = None) -> str:
    """The catalog language for ``language`` (default ``HM_LANGUAGE``, then ``zh_CN``).

    Accepts ``zh_CN``, ``zh-CN``, ``zh``, ``zh_Hans_CN``, ``en``, ``en_US`` (case-insensitive): the exact
    catalog first, then the only catalog of the same language. Raises ``I18nError`` naming the
    languages available when none matches.
    """
    from babel import Locale, UnknownLocaleError

    wanted = (language or os.environ.get("HM_LANGUAGE") or DEFAULT_LANGUAGE).strip()
    available = available_languages()
    try:
        locale = Locale.parse(wanted.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as exc:
        raise I18nError(f"unknown language {wanted!r} (HM_LANGUAGE); available: {', '.join(available)}") from exc
    exact = f"{locale.language}_{locale.territory}" if locale.territory else locale.language
    if exact in available:
        return exact
    same_language = [lang for lang in available if lang.split("_")[0] == locale.language]
    if len(same_language) == 1:
        return same_language[0]
    raise I18nError(f"no catalog for language {wanted!r} (HM_LANGUAGE); available: {', '.join(available)}")


def _compile(po_path: Path, language: str) -> gettext.GNUTranslations:
    """A ``.po`` file compiled in memory. Raises ``I18nError`` naming the file when it does not parse."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po

    try:
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language, abort_invalid=True)
    except (PoFileError, ValueError) as exc:
        raise I18nError(f"{po_path}: not a valid gettext catalog: {exc}") from exc
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass(frozen=True)
class Translator:
    """The texts of one language.

    ``gettext(message) -> str`` and ``ngettext(singular, plural, n) -> str`` as in the standard
    library; ``language`` is the catalog language (``zh_CN``, ``en``); ``html_lang`` the BCP 47 tag
    for ``<html lang>`` (``zh-CN``). Dates and numbers are formatted by Babel with the language's
    CLDR conventions.
    """

    language: str
    gettext: Callable[[str], str]
    ngettext: Callable[[str, str, int], str]

    @property
    def html_lang(self) -> str:
        return self.language.replace("_", "-")

    @property
    def locale(self):
        """The ``babel.Locale`` of the language."""
        from babel import Locale

        return Locale.parse(self.language)

    def format_date(self, day: date, format: str = "long") -> str:
        """``day`` in the language's words: ``2024年7月17日`` (zh_CN, long), ``July 17, 2024`` (en)."""
        from babel.dates import format_date

        return format_date(day, format=format, locale=self.locale)

    def format_number(self, number) -> str:
        """A count or an amount with the language's grouping: ``12,345`` / ``1,234.50``."""
        from babel.numbers import format_decimal

        return format_decimal(number, locale=self.locale)

    def level(self, level: str) -> str:
        """A warning level (``red``, ``yellow``) in the language: ``红色`` / ``red`` (seed ``warning_levels``)."""
        return seed_name("warning_levels", level, self.language)

    def risk_factor(self, code: str) -> str:
        """The name of risk factor ``code`` (``01`` -> ``因病`` / ``illness``); see ``risk_factor_name``."""
        return risk_factor_name(code, self.language)


def translator(language: str | None = None) -> Translator:
    """The translator of ``language`` (default: ``HM_LANGUAGE``, then ``zh_CN``).

    Every domain's catalog of the language is loaded (compiled in memory, once per process and
    language); a string no catalog translates is returned unchanged (English). Raises ``I18nError``
    for an unknown language or a catalog that does not parse.
    """
    return _translator(resolve_language(language))


@cache
def _translator(resolved: str) -> Translator:
    if resolved == SOURCE_LANGUAGE:
        translations: gettext.NullTranslations = gettext.NullTranslations()
    else:
        files = sorted((LOCALE_DIR / resolved / "LC_MESSAGES").glob("*.po"))
        if not files:
            raise I18nError(f"no catalog in {LOCALE_DIR / resolved / 'LC_MESSAGES'}")
        translations = _compile(files[0], resolved)
        for path in files[1:]:
            translations.add_fallback(_compile(path, resolved))
    return Translator(resolved, translations.gettext, translations.ngettext)


@cache
def _seed_rows(seed: str) -> dict[str, dict[str, str]]:
    with (SEEDS_DIR / f"{seed}.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    key = next(iter(rows[0]))  # the first column is the seed's key
    return {row[key]: row for row in rows}


def seed_name(seed: str, key: str, language: str | None = None) -> str:
    """The name of ``key`` in ``language`` from a dbt seed with one ``name_<language>`` column per language.

    Seeds: ``risk_factors`` (national code list: 01 因病 ... 09 因学, and the guarantees),
    ``warning_levels`` (红色 / 黄色), ``income_band_names``. The marts and reporting views read the same seeds,
    so the report, the dashboard and SQL show the same names. Raises ``I18nError`` for an unknown key or a
    language the seed has no column for.
    """
    resolved = resolve_language(language)
    rows = _seed_rows(seed)
    if key not in rows:
        raise I18nError(f"{key!r} is not in {seed}.csv")
    column = f"name_{resolved.lower()}"
    if column not in rows[key]:
        raise I18nError(f"{seed}.csv has no column {column} for language {resolved}")
    return rows[key][column]


def risk_factor_name(code: str, language: str | None = None) -> str:
    """The name of risk factor ``code`` (``01`` -> ``因病`` / ``illness``): ``seed_name("risk_factors", ...)``."""
    return seed_name("risk_factors", code, language)


# --- Superset asset bundles ----------------------------------------------------------------------

#: Keys of a Superset asset bundle (superset/assets/**.yaml) whose text values people read: titles,
#: chart names, the dashboard's header and markdown, big numbers' subheaders, column and metric labels,
#: axis titles, descriptions. Extracted into the ``superset`` catalog and translated at provisioning.
SUPERSET_TEXT_KEYS = frozenset(
    {
        "dashboard_title",
        "slice_name",
        "sliceName",
        "text",
        "code",
        "subheader",
        "verbose_name",
        "description",
        "x_axis_title",
        "y_axis_title",
    }
)


def extract_superset_assets(fileobj, keywords, comment_tags, options):
    """Babel extraction method for Superset asset YAML: every text value under ``SUPERSET_TEXT_KEYS``.

    Yields ``(line number, None, text, [])`` as Babel expects; mapped in ``locale/superset.cfg`` as
    ``[superset_assets: superset/assets/**.yaml]`` (entry point in pyproject.toml).
    """
    import yaml

    def walk(node):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if (
                    isinstance(value, yaml.ScalarNode)
                    and key.value in SUPERSET_TEXT_KEYS
                    and value.tag.endswith(":str")
                    and value.value.strip()
                ):
                    yield value.start_mark.line + 1, None, value.value, []
                else:
                    yield from walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from walk(item)

    root = yaml.compose(fileobj.read().decode("utf-8"))
    if root is not None:
        yield from walk(root)


def translate_superset_assets(contents: dict[str, str], language: str | None = None) -> dict[str, str]:
    """The asset bundle ``{path: YAML text}`` with every ``SUPERSET_TEXT_KEYS`` value in ``language``.

    Used at provisioning (``superset/provision.py``): the repository holds the English bundle once, the
    dashboard people open is in the configured language. Raises ``I18nError`` for an unknown language.
    """
    import yaml

    gettext_ = translator(language).gettext

    def translate(value):
        if isinstance(value, dict):
            return {
                k: gettext_(v) if k in SUPERSET_TEXT_KEYS and isinstance(v, str) and v.strip() else translate(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [translate(v) for v in value]
        return value

    return {
        path: yaml.safe_dump(translate(yaml.safe_load(text)), sort_keys=False, allow_unicode=True)
        for path, text in contents.items()
    }


# --- catalog maintenance (hm i18n) -------------------------------------------------------------

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_IGNORED_DIRS = ".* ._ var tests dbt_project node_modules __pycache__"


def _babel(*argv: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "--quiet", *argv])


def _extract(domain: str, output: Path) -> None:
    _babel(
        "extract",
        "-F",
        str(LOCALE_DIR / f"{domain}.cfg"),
        "-o",
        str(output),
        "--sort-output",
        "--add-location=file",
        "-c",
        COMMENT_TAG,
        "--project=household-monitoring",
        f"--ignore-dirs={_IGNORED_DIRS}",
        ".",  # the caller is in the repository root: locations relative to it
    )


def _without_dates(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if "-Date:" not in line]


def update_catalogs() -> None:
    """Extract every domain into ``locale/<domain>.pot`` and merge it into each language's ``.po``."""
    cwd = Path.cwd()
    os.chdir(_PROJECT_ROOT)  # locations relative to the repository root
    try:
        for domain in domains():
            pot = LOCALE_DIR / f"{domain}.pot"
            fresh = pot.with_suffix(".pot.new")
            _extract(domain, fresh)
            if pot.exists() and _without_dates(fresh) == _without_dates(pot):
                fresh.unlink()  # nothing new: keep the files as they are (no date-only changes in git)
                continue
            fresh.replace(pot)
            for language in available_languages()[1:]:
                po = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
                action = "update" if po.exists() else "init"
                _babel(action, "-D", domain, "-i", str(pot), "-d", str(LOCALE_DIR), "-l", language, "--no-wrap")
    finally:
        os.chdir(cwd)


def init_language(language: str) -> None:
    """Start the catalogs of a new ``language`` (e.g. ``ug_CN``) from the current templates."""
    for domain in domains():
        pot = LOCALE_DIR / f"{domain}.pot"
        _babel("init", "-D", domain, "-i", str(pot), "-d", str(LOCALE_DIR), "-l", language, "--no-wrap")


def check_catalogs() -> list[str]:
    """Problems with the catalogs, one sentence each (empty when all is well).

    Checked: each template holds exactly the strings its sources mark now; each language translates
    every string of every template (no empty, no fuzzy entry); placeholders (``{name}``, ``%s``) agree
    between the English and the translation (Babel's catalog checkers).
    """
    import tempfile

    from babel.messages.pofile import read_po

    problems = []
    cwd = Path.cwd()
    os.chdir(_PROJECT_ROOT)
    try:
        for domain in domains():
            pot_path = LOCALE_DIR / f"{domain}.pot"
            if not pot_path.exists():
                problems.append(f"{pot_path.name} is missing: run hm i18n update")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                fresh = Path(tmp) / "fresh.pot"
                _extract(domain, fresh)
                with fresh.open("rb") as handle:
                    fresh_ids = {m.id for m in read_po(handle) if m.id}
            with pot_path.open("rb") as handle:
                template_ids = {m.id for m in read_po(handle) if m.id}
            for missing in sorted(map(str, fresh_ids - template_ids)):
                problems.append(f"{pot_path.name}: {missing!r} is marked in the sources but not extracted")
            for stale in sorted(map(str, template_ids - fresh_ids)):
                problems.append(f"{pot_path.name}: {stale!r} is no longer in the sources")
            for language in available_languages()[1:]:
                po_path = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
                if not po_path.exists():
                    problems.append(f"{po_path.relative_to(LOCALE_DIR)} is missing: run hm i18n update")
                    continue
                with po_path.open("rb") as handle:
                    catalog = read_po(handle, locale=language)
                where = po_path.relative_to(LOCALE_DIR)
                for message in catalog:
                    if not message.id:
                        continue
                    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
                    if message.fuzzy:
                        problems.append(f"{where}: {message.id!r} is fuzzy (review the translation)")
                    elif not all(strings):
                        problems.append(f"{where}: {message.id!r} is not translated")
                for message, errors in catalog.check():
                    for error in errors:
                        problems.append(f"{where}: {message.id!r}: {error}")
                missing_ids = template_ids - {m.id for m in catalog if m.id}
                for missing in sorted(map(str, missing_ids)):
                    problems.append(f"{where}: {missing!r} is missing: run hm i18n update")
    finally:
        os.chdir(cwd)
    return problems


def main(argv: list[str]) -> int:
    """``hm i18n update | check | init <language>``."""
    if argv[:1] == ["update"]:
        update_catalogs()
        return 0
    if argv[:1] == ["init"] and len(argv) == 2:
        init_language(argv[1])
        return 0
    if argv[:1] == ["check"]:
        problems = check_catalogs()
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) in the catalogs" if problems else "catalogs complete")
        return 1 if problems else 0
    print("usage: hm i18n update | check | init <language>", file=sys.stderr)
    return 2
