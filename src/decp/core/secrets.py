"""What never enters a context pack, and the reason written into the ledger.

Why: a copilot's context is sent to a model provider and often logged. dbt
repos keep warehouse credentials next to the models (`profiles.yml`, `.env`,
service-account keys), so scoping must refuse them by name and by content,
before a single byte is read into a pack, and say so in the ledger, where the
user can see that the rule held.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
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

    kind: str  # "secret" | "gitignored" | "binary" | "large"
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


def secret_by_content(head: bytes) -> str | None:
    for pattern, reason in _CONTENT_RULES:
        if pattern.search(head):
            return reason
    return None


def exclusion_for(path: Path, *, ignored: bool = False) -> Exclusion | None:
    """The reason `path` may not enter a pack, or None. Reads at most 8 KiB of it."""
    reason = secret_by_name(path.name)
    if reason:
        return Exclusion("secret", reason)
    if ignored:
        return Exclusion("gitignored", "git ignores it (build output, local or private file)")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
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
