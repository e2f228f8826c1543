"""Settings, declared once (SETTINGS) and read once at start.

Each setting has a name, an environment variable, a type, a default and a help text. A value
comes from the first of: the command line (`--setting NAME VALUE`, or a command's own option such
as `--db`), the environment, the configuration file (`termsvc.toml` in the project folder, or the
file named by $TERMSVC_CONFIG; optional), the default. An invalid value - or an unknown key in
the configuration file - is refused at start with a SettingsError naming the setting and where
the value came from.

    s = settings.load({"cache_size": "0"})     # command-line values win
    s.cache_size, s.origin("cache_size")       # 0, 'command line'
    settings.use(s)                            # the process's settings: settings.current()
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class SettingsError(Exception):
    """A setting has an invalid value (or the configuration file is unusable)."""

    def __init__(self, message: str, name: str | None = None, origin: str | None = None):
        super().__init__(message)
        self.name = name
        self.origin = origin


def project_dir() -> Path:
    """The source checkout termsvc runs from, else (an installed package) the current folder."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


# -- value types: text (from the environment or the command line) or TOML value -> value ------
class ValueType(Protocol):
    @property
    def label(self) -> str: ...

    def parse(self, value: Any, base: Path | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class Int:
    minimum: int = 0
    label = "integer"

    def parse(self, value, base: Path | None = None) -> int:
        if isinstance(value, bool):
            raise ValueError("not an integer")
        try:
            n = int(str(value).replace("_", "")) if not isinstance(value, int) else value
        except ValueError:
            raise ValueError("not an integer") from None
        if n < self.minimum:
            raise ValueError(f"must be at least {self.minimum}")
        return n


@dataclass(frozen=True, slots=True)
class Bool:
    label = "true or false"

    def parse(self, value, base: Path | None = None) -> bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in ("true", "yes", "1", "on"):
            return True
        if word in ("false", "no", "0", "off"):
            return False
        raise ValueError("not true or false")


@dataclass(frozen=True, slots=True)
class Text:
    label = "text"

    def parse(self, value, base: Path | None = None) -> str | None:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return value.strip() or None


@dataclass(frozen=True, slots=True)
class Choice:
    choices: tuple[str, ...]

    @property
    def label(self) -> str:
        return "/".join(self.choices)

    def parse(self, value, base: Path | None = None) -> str:
        text = str(value).strip().lower()
        if text not in self.choices:
            raise ValueError(f"not one of {', '.join(self.choices)}")
        return text


@dataclass(frozen=True, slots=True)
class FilePath:
    """A path; a relative one in the configuration file is relative to that file's folder."""
    label = "path"

    def parse(self, value, base: Path | None = None) -> str | None:
        if not isinstance(value, (str, os.PathLike)):
            raise ValueError("not a path")
        text = os.fspath(value).strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        return str(path.absolute())


@dataclass(frozen=True, slots=True)
class PathList:
    """Paths: a list in the configuration file, os.pathsep-separated text elsewhere."""
    label = "paths (':' between them; ';' on Windows)"

    def parse(self, value, base: Path | None = None) -> tuple[str, ...]:
        items = value if isinstance(value, (list, tuple)) else str(value).split(os.pathsep)
        return tuple(p for p in (FilePath().parse(v, base) for v in items if str(v).strip()) if p)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    type: ValueType
    default: Any
    help: str
    default_text: str | None = None   # how the default is shown when it is computed
    in_file: bool = True              # may be set in the configuration file
    secret: bool = False              # its value is never shown (`termsvc settings` says whether it is set)

    @property
    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.default is None or self.default == ():
            return "(none)"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return f"{self.default:,}" if isinstance(self.default, int) else str(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "TERMSVC_DB", FilePath(), None, "the database file built and served",
            default_text="data/termsvc.db in the project folder"),
    Setting("config", "TERMSVC_CONFIG", FilePath(), None,
            "a configuration file to use instead of termsvc.toml in the project folder",
            default_text="termsvc.toml in the project folder, if present", in_file=False),
    Setting("host", "TERMSVC_HOST", Text(), "127.0.0.1", "the address `termsvc serve` listens on"),
    Setting("port", "TERMSVC_PORT", Int(1), 8080, "the port `termsvc serve` listens on", default_text="8080"),
    Setting("workers", "TERMSVC_WORKERS", Int(1), None, "server worker processes",
            default_text="one per CPU the process may use (in a container: its CPU limit)"),
    Setting("management_port", "TERMSVC_MANAGEMENT_PORT", Int(1), None,
            "a second port `termsvc serve` listens on (same address) for /metrics and /admin, and the probes;"
            " when set, the API port answers 404 for /metrics and /admin",
            default_text="(none: the API port serves them)"),
    Setting("cache_size", "TERMSVC_CACHE_SIZE", Int(0), 20_000,
            "answers of operations (GET and POST) and of searches cached per worker and build, each counting one per"
            " started 16 KiB (0: no cache)"),
    Setting("max_expansion", "TERMSVC_MAX_EXPANSION", Int(0), 10_000,
            "codes an expansion may have without paging (0: no limit)"),
    Setting("time_limit_ms", "TERMSVC_TIME_LIMIT_MS", Int(1), 5_000,
            "time limit of one request, in milliseconds"),
    Setting("build_check_ms", "TERMSVC_BUILD_CHECK_MS", Int(0), 200,
            "how often a worker looks whether a new build was swapped in, in milliseconds (0: on every request)"),
    Setting("batch_max_entries", "TERMSVC_BATCH_MAX_ENTRIES", Int(1), 10_000,
            "operation requests one FHIR batch may hold"),
    Setting("access_log", "TERMSVC_ACCESS_LOG", Bool(), True,
            "one JSON line per request on stdout (time, method, path, operation, status, duration, request id)"),
    Setting("log_level", "TERMSVC_LOG_LEVEL", Choice(("debug", "info", "warning", "error")), "info",
            "lowest level logged: access lines are info (warning: 4xx, error: 5xx), the server's own messages too"),
    Setting("admin_token", "TERMSVC_ADMIN_TOKEN", Text(), None,
            "bearer token of the admin API under /admin (unset: no admin API, /admin answers 404)", secret=True),
    Setting("snomed", "TERMSVC_SNOMED", PathList(), (),
            "SNOMED CT release folders or zips the default build loads (edition, then extensions)"),
    Setting("loinc", "TERMSVC_LOINC", FilePath(), None, "the LOINC release folder or zip the default build loads"),
    Setting("mappings", "TERMSVC_MAPPINGS", PathList(), (),
            "folders of mapping tables `termsvc build` and `termsvc mappings` read, besides the shipped ones"
            " (uploads to POST /admin/mappings go to the first)"),
    Setting("default_mappings", "TERMSVC_DEFAULT_MAPPINGS", Bool(), True,
            "whether the mapping tables shipped with termsvc are read too (false: only the `mappings` folders)",
            default_text="true"),
    Setting("strict_displays", "TERMSVC_STRICT_DISPLAYS", Bool(), False,
            "a display $validate-code only warns about (a fragment's, a wrong one under lenient rules) is an error"
            " for `termsvc build`, `termsvc mappings check` and `termsvc check-resource`"),
    Setting("patient_id_system", "TERMSVC_PATIENT_ID_SYSTEM", Text(), None,
            "the identifier system of the DICOM Patient IDs (`termsvc dicom-codes --fhir`: ImagingStudy.subject)"),
    Setting("fhir_package_cache", "FHIR_PACKAGE_CACHE", FilePath(), None,
            "the FHIR package cache folder (packages in NAME#VERSION/package/)",
            default_text="~/.fhir/packages"),
    Setting("fhir_package_registry", "FHIR_PACKAGE_REGISTRY", Text(), None,
            "base URL of a FHIR package registry to fetch from when `npm pack` cannot"),
    # the bounds of what a build, a pull and dicom-codes read (hostile or damaged input is refused past them,
    # never read whole): raised for a release or a package that is larger on purpose
    Setting("max_json_bytes", "TERMSVC_MAX_JSON_BYTES", Int(1), 64 << 20,
            "bytes of the largest FHIR JSON file `termsvc build` reads (a larger one is refused unread)"),
    Setting("max_line_chars", "TERMSVC_MAX_LINE_CHARS", Int(1), 1 << 20,
            "characters of the longest line of an RF2 or LOINC file `termsvc build` reads"),
    Setting("max_package_bytes", "TERMSVC_MAX_PACKAGE_BYTES", Int(1), 1 << 30,
            "bytes a FHIR package may hold, as a tarball (or download) and unpacked"),
    Setting("max_package_entries", "TERMSVC_MAX_PACKAGE_ENTRIES", Int(1), 100_000,
            "entries a FHIR package tarball may have"),
    Setting("max_dicom_inflated_bytes", "TERMSVC_MAX_DICOM_INFLATED_BYTES", Int(1), 64 << 20,
            "bytes a deflated DICOM dataset is inflated to, at most, by `termsvc dicom-codes`"),
    Setting("pull_keep_free_bytes", "TERMSVC_PULL_KEEP_FREE_BYTES", Int(0), 1 << 30,
            "bytes `termsvc pull` leaves free on the volume of the served build: it stops, and removes what it"
            " wrote, before going below"),
)
BY_NAME = {s.name: s for s in SETTINGS}


def _computed_defaults() -> dict:
    return {"db": str(project_dir() / "data" / "termsvc.db"),
            "fhir_package_cache": str(Path("~/.fhir/packages").expanduser())}


class Settings:
    """The values of every setting and where each came from."""

    def __init__(self, values: dict, origins: dict):
        self._values = values
        self._origins = origins

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def origin(self, name: str) -> str:
        return self._origins[name]

    def with_values(self, values: dict, origin: str = "caller") -> Settings:
        """A copy with these values (checked like any other)."""
        new_values, new_origins = dict(self._values), dict(self._origins)
        for name, value in values.items():
            new_values[name] = _parse(_setting(name, origin), value, origin)
            new_origins[name] = origin
        return Settings(new_values, new_origins)

    def environ(self) -> dict[str, str]:
        """The environment that gives a child process (a server worker) these settings."""
        out = {}
        for s in SETTINGS:
            value = self._values[s.name]
            if value is None or value == ():
                continue
            out[s.env] = os.pathsep.join(value) if isinstance(value, tuple) else str(value)
        return out

    def shown(self, name: str) -> str:
        """A setting's value as `termsvc settings` shows it (a secret only says whether it is set)."""
        value = self._values[name]
        if value is None or value == ():
            return ""
        if BY_NAME[name].secret:
            return "(set)"
        if isinstance(value, bool):
            return "true" if value else "false"
        return os.pathsep.join(value) if isinstance(value, tuple) else str(value)


def _setting(name: str, origin: str) -> Setting:
    if name not in BY_NAME:
        raise SettingsError(f"{origin}: unknown setting '{name}' (known: {', '.join(BY_NAME)})", name, origin)
    return BY_NAME[name]


def _parse(s: Setting, value, origin: str, base: Path | None = None):
    try:
        return s.type.parse(value, base)
    except ValueError as e:
        raise SettingsError(f"{origin}: invalid value {value!r} for setting '{s.name}': {e}"
                            f" (expected {s.type.label})", s.name, origin) from None


def read_config_file(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"{path}: configuration file not found", "config", path) from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: invalid TOML: {e}", "config", path) from None
    except OSError as e:
        raise SettingsError(f"{path}: cannot read the configuration file: {e.strerror or e}",
                            "config", path) from None


def load(overrides: dict | None = None, environ=None) -> Settings:
    """Every setting, from the command line (`overrides`, name -> value), the environment, the
    configuration file and the defaults. Raises SettingsError for any invalid value."""
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None and v != ()}
    values, origins = {}, {}
    for name, value in overrides.items():
        values[name] = _parse(_setting(name, "command line"), value, "command line")
        origins[name] = "command line"
    for s in SETTINGS:
        if s.name not in values and environ.get(s.env, "").strip():
            values[s.name] = _parse(s, environ[s.env], f"${s.env}")
            origins[s.name] = f"${s.env}"
    config = values.get("config")
    if config is None:
        candidate = project_dir() / "termsvc.toml"
        config = str(candidate) if candidate.is_file() else None
    if config is not None:
        base = Path(config).absolute().parent
        for key, value in read_config_file(config).items():
            s = _setting(key, config)
            if not s.in_file:
                raise SettingsError(f"{config}: the setting '{key}' cannot be set in the configuration file",
                                    key, config)
            if s.name not in values:
                values[s.name] = _parse(s, value, config, base)
                origins[s.name] = config
    computed = _computed_defaults()
    for s in SETTINGS:
        if s.name not in values:
            values[s.name] = computed.get(s.name, s.default)
            origins[s.name] = "default"
    return Settings(values, origins)


_current: Settings | None = None


def current() -> Settings:
    """The process's settings: those given to use(), else loaded (once) from the environment."""
    global _current
    if _current is None:
        _current = load()
    return _current


def use(settings: Settings | None) -> None:
    """Make these the process's settings (None: load them again on the next current())."""
    global _current
    _current = settings


# -- documentation: the CLI's help shows this table (and scripts/gen_docs.py docs/configuration.md) ------------
def help_text() -> str:
    lines = ["Settings (--setting NAME VALUE, else the environment variable, else termsvc.toml, else the default):"]
    for s in SETTINGS:
        lines.append(f"  {s.name} (${s.env}, {s.type.label}, default {s.shown_default}): {s.help}")
    return "\n".join(lines)

