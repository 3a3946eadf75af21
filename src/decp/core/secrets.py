"""What never enters a context pack, and the reason written into the ledger.

Why: a copilot's context is sent to a model provider and often logged. dbt
repos keep warehouse credentials next to the models (`profiles.yml`, `.env`,
service-account keys), so scoping must refuse them by name and by content,
before a single byte is read into a pack, and say so in the ledger, where the
user can see that the rule held.
"""

from __future__ import annotations

import bisect
import errno
import fnmatch
import math
import os
import re
import stat
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# A text file this big does not fit any task budget; reading it only costs time.
MAX_PACK_FILE_BYTES = 1_000_000
SNIFF_BYTES = 8192

# (basename glob, reason). Matched case-insensitively on the file name only.
SECRET_NAMES: tuple[tuple[str, str], ...] = (
    (".env", "environment file (often holds credentials)"),
    (".env.*", "environment file (often holds credentials)"),
    ("*.env", "environment file (often holds credentials)"),
    (".envrc", "direnv file (often exports credentials)"),
    ("profiles.yml", "dbt profiles (warehouse credentials)"),
    ("profiles.yaml", "dbt profiles (warehouse credentials)"),
    ("*.pem", "key or certificate file"),
    ("*.key", "private key file"),
    ("*.p12", "PKCS#12 key store"),
    ("*.pfx", "PKCS#12 key store"),
    ("*.jks", "Java key store"),
    ("*.keystore", "key store"),
    ("*.kdbx", "password database"),
    ("id_rsa*", "SSH private key"),
    ("id_dsa*", "SSH private key"),
    ("id_ecdsa*", "SSH private key"),
    ("id_ed25519*", "SSH private key"),
    ("*credentials*.json", "credentials file"),
    ("credentials", "credentials file (AWS style)"),
    ("*service-account*.json", "cloud service-account key"),
    ("*service_account*.json", "cloud service-account key"),
    (".netrc", "netrc (host passwords)"),
    ("_netrc", "netrc (host passwords)"),
    (".pgpass", "PostgreSQL password file"),
    (".pypirc", "package index credentials"),
    (".npmrc", "package registry token"),
    (".htpasswd", "password file"),
    ("secrets.toml", "secrets file"),
    ("secrets.yml", "secrets file"),
    ("secrets.yaml", "secrets file"),
    ("secrets.json", "secrets file"),
    (".git-credentials", "git credential store (tokens in clear)"),
    ("*.tfvars", "Terraform variables (often hold credentials)"),
    ("*.tfvars.json", "Terraform variables (often hold credentials)"),
    ("*.tfstate", "Terraform state (holds resource secrets in clear)"),
    ("*.tfstate.backup", "Terraform state (holds resource secrets in clear)"),
    (".terraformrc", "Terraform CLI config (registry tokens)"),
    ("terraform.rc", "Terraform CLI config (registry tokens)"),
    (".dockercfg", "Docker registry credentials"),
    (".boto", "cloud storage credentials"),
    (".s3cfg", "S3 credentials"),
    (".my.cnf", "MySQL client config (password)"),
    (".vault-token", "Vault token"),
)

# (parent folder, basename glob, reason): names that are only secret in their home folder
# (`config.json` is harmless anywhere but ~/.docker).
SECRET_PATHS: tuple[tuple[str, str, str], ...] = (
    (".docker", "config.json", "Docker registry credentials"),
    (".aws", "*", "AWS credentials or config"),
    (".ssh", "*", "SSH key or config"),
    (".kube", "config", "Kubernetes credentials"),
    (".gnupg", "*", "GnuPG keyring"),
    ("gcloud", "*credentials*", "Google Cloud credentials"),
    (".azure", "*", "Azure CLI credentials"),
)

_CONTENT_RULES: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "contains a private key block"),
    (
        re.compile(rb'"type"\s*:\s*"service_account"'),
        "cloud service-account key (JSON content)",
    ),
)


@dataclass(frozen=True)
class Exclusion:
    """Why a file stays out of every pack; `kind` is the ledger's Kind column."""

    kind: str  # "secret" | "gitignored" | "binary" | "large" | "outside" | "git" | "special"
    reason: str

    @property
    def why(self) -> str:
        return f"{self.kind}: {self.reason}"


def secret_by_name(name: str) -> str | None:
    lowered = name.lower()
    for pattern, reason in SECRET_NAMES:
        if fnmatch.fnmatchcase(lowered, pattern):
            return reason
    return None


def secret_by_path(path: Path) -> str | None:
    """Name rules, then the folder-aware ones (`.docker/config.json`, `.ssh/config`)."""
    reason = secret_by_name(path.name)
    if reason:
        return reason
    parent, lowered = path.parent.name.lower(), path.name.lower()
    for folder, pattern, why in SECRET_PATHS:
        if parent == folder and fnmatch.fnmatchcase(lowered, pattern):
            return why
    return None


# --- where a pack may read at all -------------------------------------------------


def inside(path: Path, root: Path) -> bool:
    """True when `path`, symlinks resolved, lies under `root` (also resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def placement_exclusion(path: Path, root: Path | None) -> Exclusion | None:
    """Why `path` may not even be opened: outside the repo, git's own data, or no regular
    file (a FIFO would block, /dev/zero never ends). Only stats; never opens."""
    real = Path(os.path.realpath(path))
    if root is not None:
        try:
            rel_parts = real.relative_to(os.path.realpath(root)).parts
        except ValueError:
            return Exclusion("outside", "outside the repo (its real path is not under the root)")
        lexical = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).parts
    else:
        rel_parts, lexical = Path(path).parts, ()
    if ".git" in rel_parts or ".git" in lexical:
        return Exclusion("git", "inside .git (git's own data; remote URLs may hold tokens)")
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return None  # missing or unreadable: the reader reports it
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
    return Exclusion("special", f"not a regular file ({kind})")


class NotRegularFile(OSError):
    """Raised instead of opening a FIFO, device or socket."""


def read_capped(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file; never blocks on a FIFO or reads a device.

    The file is opened non-blocking and checked with fstat on the open descriptor, so a
    file swapped for a FIFO between the check and the open is still refused.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def secret_by_content(head: bytes) -> str | None:
    for pattern, reason in _CONTENT_RULES:
        if pattern.search(head):
            return reason
    return None


def exclusion_for(
    path: Path, *, ignored: bool = False, root: Path | None = None
) -> Exclusion | None:
    """The reason `path` may not enter a pack, or None. Reads at most 8 KiB of it.

    With `root`, a path whose real location is outside it (a symlink to /etc/passwd)
    is refused before anything is opened.
    """
    placed = placement_exclusion(path, root)
    if placed is not None:
        return placed
    reason = secret_by_path(path) or secret_by_path(Path(os.path.realpath(path)))
    if reason:
        return Exclusion("secret", reason)
    if ignored:
        return Exclusion("gitignored", "git ignores it (build output, local or private file)")
    try:
        size = path.stat().st_size
        head = read_capped(path, SNIFF_BYTES - 1)
    except NotRegularFile:
        return Exclusion("special", "not a regular file")
    except OSError:
        return None  # the caller reports unreadable files itself
    reason = secret_by_content(head)
    if reason:
        return Exclusion("secret", reason)
    if b"\0" in head:
        return Exclusion("binary", f"binary file ({size:,} bytes)")
    if size > MAX_PACK_FILE_BYTES:
        return Exclusion("large", f"{size:,} bytes, bigger than any task budget")
    return None


# --- content redaction -------------------------------------------------------------
#
# A file whose name is harmless may still hold a credential (a key pasted into a
# README, a token in a URL, `compiled_code` rendered from env_var()). Such a value
# is replaced by `[redacted: KIND]` rather than dropping the file: the rest of the
# file is what the task needs. Detection uses the regex plugins of detect-secrets
# (Yelp's maintained, offline detector) in-process on text, plus the few shapes it
# lacks or only half-matches (whole private-key blocks, whole JWTs, fine-grained
# GitHub tokens, unquoted AWS secrets, high-entropy values assigned to secret names).
# Its generic high-entropy plugins are left out on purpose: they flag every quoted
# md5/sha hash in dbt SQL.


@dataclass(frozen=True)
class SecretHit:
    """One credential in a text: the characters [start, end) and the ledger kind."""

    start: int
    end: int
    kind: str
    rank: int  # lower wins when two hits overlap (the more specific shape names the kind)


# detect-secrets plugin class -> the kind written into packs and the ledger. Order is
# rank: a GitHub token inside a URL's password is reported as a GitHub token.
_PLUGIN_KINDS: tuple[tuple[str, str, bool, tuple[str, ...]], ...] = (
    # (module, class, the secret is the pattern's first group (else the whole match),
    #  kind for each pattern of its denylist, in order)
    ("aws", "AWSKeyDetector", True, ("aws-access-key", "aws-secret-key")),
    ("github_token", "GitHubTokenDetector", False, ("github-token",)),
    ("gitlab_token", "GitLabTokenDetector", False, ("gitlab-token",)),
    ("slack", "SlackDetector", False, ("slack-token", "slack-webhook")),
    ("stripe", "StripeDetector", False, ("stripe-key",)),
    ("openai", "OpenAIDetector", False, ("openai-key",)),
    ("pypi_token", "PypiTokenDetector", False, ("pypi-token",)),
    ("npm", "NpmDetector", True, ("npm-token",)),
    ("sendgrid", "SendGridDetector", False, ("sendgrid-key",)),
    ("azure_storage_key", "AzureStorageKeyDetector", False, ("azure-storage-key",)),
    ("square_oauth", "SquareOAuthDetector", False, ("square-oauth-secret",)),
    ("twilio", "TwilioKeyDetector", False, ("twilio-key",)),
    ("mailchimp", "MailchimpDetector", False, ("mailchimp-key",)),
    ("ibm_cos_hmac", "IbmCosHmacDetector", True, ("ibm-cos-hmac",)),
    ("ibm_cloud_iam", "IbmCloudIamDetector", True, ("ibm-cloud-iam-key",)),
    ("cloudant", "CloudantDetector", True, ("cloudant-credentials",)),
    ("softlayer", "SoftlayerDetector", True, ("softlayer-credentials",)),
    ("basic_auth", "BasicAuthDetector", True, ("url-credentials",)),
)

# Plugins whose patterns try every position of the text (all-optional prefixes): each runs
# only when the text holds the value shape it requires somewhere. A gate is a strict
# superset of its plugin's matches (the plugins match case-insensitively, so the gates
# do too), so it never changes a result, only skips work.
_PLUGIN_GATES: dict[str, str] = {
    "ibm_cloud_iam": r"[a-zA-Z0-9_\-]{44}",
    "ibm_cos_hmac": r"[a-fA-F0-9]{32}",
    "cloudant": r"[0-9a-fA-F]{64}|[a-zA-Z]{24}",
    "softlayer": r"[a-zA-Z0-9]{64}",
    "mailchimp": r"-us[0-9]",
}

# Names whose assigned value is a credential when it looks random.
_SECRET_NAME = (
    r"passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key"
    r"|private[_-]?key|client[_-]?key|signing[_-]?key|credentials?"
)
_ASSIGNMENT = re.compile(
    rf"""(?<![\w-])(?P<name>(?:[A-Za-z_][\w.-]*?)?(?:{_SECRET_NAME})[\w-]*)["'\]]*[ \t]*"""
    r"""(?::=|=>|==?|:)[ \t]*(?P<quote>["'`]?)(?P<value>[^\s"'`,;]{8,})""",
    re.IGNORECASE,
)
# Searched on an ASCII-lowered copy (same length, so offsets hold): IGNORECASE alternation
# is ten times slower on a large pack.
_SECRET_KEYWORD = re.compile(_SECRET_NAME)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# A name that only describes the secret (`secret_name`, `token_url`, `password_hash`).
_DESCRIPTIVE_SUFFIX = re.compile(
    r"(?:name|names|id|ids|url|uri|path|file|env|var|type|field|col|column|ref|arn|length"
    r"|len|expires?|expiry|expires_at|ttl|count|hash|hashed|digest|checksum|header|prefix"
    r"|policy|table|schema|endpoint|label|format|mode|version|salt|provider|method)$",
    re.IGNORECASE,
)
_ATTRIBUTE_PATH = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_TEMPLATED = ("{", "}", "(", ")", "$", "<", ">", "%", "[", "]")

_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:.*?-----END (?P=label)-----|.*\Z)",
    re.DOTALL,
)
_PUTTY_KEY = re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC:[^\n]*|\Z)", re.DOTALL)
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]*=*")
_GITHUB_FINE_GRAINED = re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}")
_SLACK_APP = re.compile(r"\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+", re.IGNORECASE)
_AWS_SECRET = re.compile(
    r"""aws_?secret(?:_?access)?_?key["']?[ \t]*(?:=|:)[ \t]*["']?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])""",
    re.IGNORECASE,
)
# `https://TOKEN@host`: a credential in the user part with no password after it.
_URL_USER_TOKEN = re.compile(r"://(?P<value>[^\s:/@?#]{16,})@[^\s/@]")


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def looks_random(value: str) -> bool:
    """A credential-like value: long, high entropy, letters mixed with digits or symbols.

    Letters-only values are names (`userPassword`, `my-app-secret`), dotted ones are
    attribute paths (`settings.SECRET_KEY`), and anything with `{`, `(` or `$` is a
    template or a call (`{{ env_var('PW') }}`, `md5(...)`): none is a secret itself.
    """
    if len(value) < 8 or any(ch in value for ch in _TEMPLATED):
        return False
    if _ATTRIBUTE_PATH.match(value) or value.startswith(("/", "./", "../", "~/", "http")):
        return False
    has_letter = any(ch.isalpha() for ch in value)
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(not ch.isalnum() and ch not in "_.-" for ch in value)
    if not has_letter or not (has_digit or has_symbol):
        return False
    return _entropy(value) >= 3.0


_Plugin = tuple[re.Pattern[str] | None, tuple[tuple[re.Pattern[str], bool, str], ...]]


@lru_cache(maxsize=1)
def _plugins() -> tuple[_Plugin, ...]:
    """The detect-secrets regexes with their gates and kinds, built once per process."""
    plugins: list[_Plugin] = []
    for (module, _cls, in_group, kinds), denylist in zip(_PLUGIN_KINDS, _denylists(), strict=True):
        gate = re.compile(_PLUGIN_GATES[module]) if module in _PLUGIN_GATES else None
        patterns = tuple(
            (re.compile(source, flags), in_group, kinds[min(i, len(kinds) - 1)])
            for i, (source, flags) in enumerate(denylist)
        )
        plugins.append((gate, patterns))
    return tuple(plugins)


def _denylists() -> list[list[tuple[str, int]]]:
    """Each plugin's (pattern, flags), cached as JSON beside the other caches.

    Importing the plugins costs ~0.1 s (detect-secrets pulls in `requests`); the
    patterns are plain data, so later processes read them back instead. The key
    is the installed detect-secrets (its file's mtime) plus our plugin list.
    """
    import importlib.util
    import json

    from decp.core.cachedirs import cache_dir

    spec = importlib.util.find_spec("detect_secrets")
    stamp = os.stat(spec.origin).st_mtime_ns if spec and spec.origin else 0
    key = f"{stamp}:{_PLUGIN_KINDS!r}"
    path = cache_dir("secrets") / "denylists.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return [[(s, f) for s, f in plugin] for plugin in cached["denylists"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # absent or unreadable: rebuild it
    import importlib

    denylists = [
        [
            (pattern.pattern, pattern.flags)
            for pattern in getattr(
                importlib.import_module(f"detect_secrets.plugins.{module}"), cls
            ).denylist
        ]
        for module, cls, _in_group, _kinds in _PLUGIN_KINDS
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "denylists": denylists}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the import next time
    return denylists


@lru_cache(maxsize=1)
def _jwt_is_valid() -> Callable[[str], bool]:
    from detect_secrets.plugins.jwt import JwtTokenDetector

    return JwtTokenDetector.is_formally_valid


def _match_span(match: re.Match[str]) -> tuple[int, int]:
    """The secret inside a match: its first non-empty group, else the whole match."""
    for i in range(1, (match.re.groups or 0) + 1):
        if match.group(i):
            return match.span(i)
    return match.span()


def find_secrets(text: str) -> list[SecretHit]:
    """Every credential in `text`, overlaps merged, in text order."""
    hits: list[SecretHit] = []
    rank = 0

    def add(start: int, end: int, kind: str) -> None:
        if end > start:
            hits.append(SecretHit(start, end, kind, rank))

    for match in _PRIVATE_KEY_BLOCK.finditer(text):
        add(*match.span(), "private-key")
    for match in _PUTTY_KEY.finditer(text):
        add(*match.span(), "private-key")
    rank += 1
    for match in _JWT.finditer(text):
        if _jwt_is_valid()(match.group()):  # imports its plugin only when a JWT shape is found
            add(*match.span(), "jwt")
    for pattern, kind in ((_GITHUB_FINE_GRAINED, "github-token"), (_SLACK_APP, "slack-token")):
        for match in pattern.finditer(text):
            add(*match.span(), kind)
    for match in _AWS_SECRET.finditer(text):
        add(*match.span("value"), "aws-secret-key")
    for gate, patterns in _plugins():
        if gate is not None and gate.search(text) is None:
            rank += len(patterns)
            continue
        for pattern, in_group, kind in patterns:
            rank += 1
            for match in pattern.finditer(text):
                add(*(_match_span(match) if in_group else match.span()), kind)
    rank += 1
    for match in _URL_USER_TOKEN.finditer(text):
        if looks_random(match.group("value")):
            add(*match.span("value"), "url-credentials")
    rank += 1
    for match in _assignments(text):
        name, value = match.group("name"), match.group("value")
        if match.group("quote"):
            value = value.rstrip(match.group("quote"))
        if _DESCRIPTIVE_SUFFIX.search(name) or not looks_random(value):
            continue
        kind = "aws-secret-key" if "aws" in name.lower() else "secret-assignment"
        start = match.start("value")
        add(start, start + len(value), kind)
    return _merge(hits)


def _assignments(text: str) -> Iterator[re.Match[str]]:
    """Assignments to secret names, searched only on lines that hold such a name (fast)."""
    done = -1
    for keyword in _SECRET_KEYWORD.finditer(text.translate(_ASCII_LOWER)):
        if keyword.start() < done:
            continue
        start = text.rfind("\n", 0, keyword.start()) + 1
        end = text.find("\n", keyword.end())
        done = len(text) if end < 0 else end
        yield from _ASSIGNMENT.finditer(text, start, done)


def _merge(hits: list[SecretHit]) -> list[SecretHit]:
    """Keep the most specific hit where two overlap: a GitHub token inside a URL stays a
    GitHub token, and a looser match never stretches the redaction over plain text."""
    kept: list[SecretHit] = []  # disjoint, sorted by start
    starts: list[int] = []
    for hit in sorted(hits, key=lambda h: (h.rank, h.start, -h.end)):
        at = bisect.bisect_left(starts, hit.start)
        if at > 0 and kept[at - 1].end > hit.start:
            continue
        if at < len(kept) and kept[at].start < hit.end:
            continue
        kept.insert(at, hit)
        starts.insert(at, hit.start)
    return kept


def redact(text: str) -> tuple[str, list[str]]:
    """`text` with every credential value replaced by `[redacted: KIND]`, and the kinds found.

    The kinds are listed once each, in the order they first appear; an empty list
    means the text is unchanged.
    """
    hits = find_secrets(text)
    if not hits:
        return text, []
    parts: list[str] = []
    kinds: list[str] = []
    at = 0
    for hit in hits:
        parts += [text[at : hit.start], f"[redacted: {hit.kind}]"]
        at = hit.end
        if hit.kind not in kinds:
            kinds.append(hit.kind)
    parts.append(text[at:])
    return "".join(parts), kinds
