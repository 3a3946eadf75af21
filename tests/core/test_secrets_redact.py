"""Content redaction: real-shaped credentials are replaced, near misses are left alone.

No secret-looking literal is committed: every key is assembled at run time from a
seeded random source in the shape the real provider issues.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import string
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from decp.core.secrets import find_secrets, looks_random, redact

_R = random.Random(20261130)
UP, LOW, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits


def rnd(chars: str, n: int) -> str:
    return "".join(_R.choice(chars) for _ in range(n))


def b64(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


AWS_KEY_ID = "AK" + "IA" + rnd(UP + DIG, 16)
AWS_SECRET = rnd(UP + LOW + DIG + "/+", 39) + "7"
GITHUB_CLASSIC = "gh" + "p_" + rnd(UP + LOW + DIG, 36)
GITHUB_FINE = "github" + "_pat_" + rnd(UP + LOW + DIG, 22) + "_" + rnd(UP + LOW + DIG, 59)
GITLAB = "gl" + "pat-" + rnd(UP + LOW + DIG, 20)
SLACK = "xo" + "xb-" + rnd(DIG, 12) + "-" + rnd(DIG, 13) + "-" + rnd(LOW + DIG, 24)
SLACK_HOOK = (
    "https://hooks.slack.com/services/T" + rnd(UP + DIG, 8) + "/B" + rnd(UP + DIG, 8) + "/"
) + rnd(LOW + UP + DIG, 24)
JWT = (
    b64({"alg": "HS256", "typ": "JWT"})
    + "."
    + b64({"sub": "1234567890", "name": "Ada"})
    + "."
    + rnd(UP + LOW + DIG + "_-", 43)
)
PEM_BODY = "\n".join(rnd(UP + LOW + DIG + "+/", 64) for _ in range(4))
PRIVATE_KEY = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\n" + PEM_BODY + "\n-----END RSA PRIVATE KEY-----"
)
OPENSSH_KEY = (
    "-----BEGIN OPENSSH " + "PRIVATE KEY-----\n" + PEM_BODY + "\n-----END OPENSSH PRIVATE KEY-----"
)
DB_PASSWORD = rnd(LOW + DIG, 6) + "Q7" + rnd(LOW + UP, 6)
STRONG = rnd(UP + LOW + DIG, 10) + "9x"


CAUGHT = [
    pytest.param(f"aws_access_key_id = {AWS_KEY_ID}\n", AWS_KEY_ID, "aws-access-key", id="aws-id"),
    pytest.param(
        f"aws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET, "aws-secret-key", id="aws-secret-ini"
    ),
    pytest.param(
        f'client = boto3.client("s3", aws_secret_access_key="{AWS_SECRET}")\n',
        AWS_SECRET,
        "aws-secret-key",
        id="aws-secret-python",
    ),
    pytest.param(f"export GH_TOKEN={GITHUB_CLASSIC}\n", GITHUB_CLASSIC, "github-token", id="gh"),
    pytest.param(f"token: {GITHUB_FINE}\n", GITHUB_FINE, "github-token", id="gh-fine-grained"),
    pytest.param(
        f"git clone https://oauth2:{GITLAB}@gitlab.com/acme/dbt.git\n",
        GITLAB,
        "gitlab-token",
        id="gitlab-in-url",
    ),
    pytest.param(f"SLACK_BOT={SLACK}\n", SLACK, "slack-token", id="slack"),
    pytest.param(f"webhook: {SLACK_HOOK}\n", SLACK_HOOK, "slack-webhook", id="slack-hook"),
    pytest.param(f"Authorization: Bearer {JWT}\n", JWT, "jwt", id="jwt"),
    pytest.param(f"key:\n{PRIVATE_KEY}\nafter\n", PRIVATE_KEY, "private-key", id="rsa-block"),
    pytest.param(f"{OPENSSH_KEY}\n", OPENSSH_KEY, "private-key", id="openssh-block"),
    pytest.param(
        f"url: postgres://loader:{DB_PASSWORD}@db.internal:5432/analytics\n",
        DB_PASSWORD,
        "url-credentials",
        id="url-password",
    ),
    pytest.param(
        f"remote = https://{STRONG}{STRONG}@git.example.com/r.git\n",
        STRONG + STRONG,
        "url-credentials",
        id="url-user-token",
    ),
    pytest.param(f"password = '{STRONG}'\n", STRONG, "secret-assignment", id="password-quoted"),
    pytest.param(f"db_password: {STRONG}\n", STRONG, "secret-assignment", id="yaml-password"),
    pytest.param(f"API_TOKEN={STRONG}\n", STRONG, "secret-assignment", id="env-token"),
    pytest.param(f'"client_secret": "{STRONG}",\n', STRONG, "secret-assignment", id="json-secret"),
    pytest.param(f"where password = '{STRONG}'\n", STRONG, "secret-assignment", id="sql-literal"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), CAUGHT)
def test_real_shaped_credentials_are_replaced_by_their_kind(
    text: str, secret: str, kind: str
) -> None:
    redacted, kinds = redact(text)
    assert kinds == [kind]
    assert secret not in redacted
    assert redacted == text.replace(secret, f"[redacted: {kind}]")


NEAR_MISSES = [
    "select md5(cast(order_id as varchar)) as order_key from {{ ref('orders') }}\n",
    "select md5(concat(user_id, password_salt)) as password_hash from users\n",
    "select 'd41d8cd98f00b204e9800998ecf8427e' as empty_md5, sha2(email, 256) as email_sha\n",
    "where token_hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n",
    "{{ dbt_utils.generate_surrogate_key(['token', 'secret_id']) }}\n",
    "on a.session_token = other_table.session_token_id\n",
    "password: \"{{ env_var('DBT_PASSWORD') }}\"\n",
    "token: ${GITHUB_TOKEN}\n",
    "password = hunter2\n",
    "password: changeme\n",
    "token = settings.API_TOKEN\n",
    "secret_name: my-app-secret-prod\n",
    "token_url: https://oauth2.example.com/token\n",
    "credentials: /etc/gcloud/keyfile.json\n",
    "author: Grace1906Hopper\n",
    "git@github.com:acme/analytics.git and ssh://git@github.com/acme/analytics\n",
    "https://docs.getdbt.com/reference/resource-properties/tests\n",
    "The password policy is documented; rotate the token every 90 days.\n",
    "AKIA is how AWS key ids begin; ghp_ is how GitHub tokens begin.\n",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "eyJhbGciOi is where a JWT header starts, not a token by itself.\n",
    "commit 1f0c2a9d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a (HEAD -> main)\n",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_untouched(text: str) -> None:
    assert redact(text) == (text, [])


def test_kinds_are_listed_once_in_order_of_first_appearance() -> None:
    text = f"a={GITHUB_CLASSIC}\nb={AWS_KEY_ID}\nc={GITHUB_CLASSIC}\n"
    assert redact(text) == (
        "a=[redacted: github-token]\nb=[redacted: aws-access-key]\nc=[redacted: github-token]\n",
        ["github-token", "aws-access-key"],
    )


def test_a_token_inside_a_url_password_is_named_by_its_specific_kind() -> None:
    text = f"https://x-access-token:{GITHUB_CLASSIC}@github.com/acme/dbt.git"
    assert redact(text) == (
        "https://x-access-token:[redacted: github-token]@github.com/acme/dbt.git",
        ["github-token"],
    )


def test_an_unterminated_private_key_is_redacted_to_the_end() -> None:
    text = "notes\n-----BEGIN EC " + "PRIVATE KEY-----\n" + PEM_BODY
    assert redact(text) == ("notes\n[redacted: private-key]", ["private-key"])


def test_looks_random_tells_values_from_names() -> None:
    assert looks_random(STRONG)
    assert looks_random(AWS_SECRET)
    for value in ("changeme", "userPassword", "settings.API_TOKEN", "prod-secret", "12345678"):
        assert not looks_random(value), value


def test_hits_are_sorted_and_disjoint() -> None:
    text = f"{PRIVATE_KEY}\npassword='{STRONG}' {JWT} {AWS_KEY_ID}"
    hits = find_secrets(text)
    assert [h.kind for h in hits] == ["private-key", "secret-assignment", "jwt", "aws-access-key"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(hits))


# --- properties ------------------------------------------------------------------------

SECRETS = [AWS_KEY_ID, GITHUB_CLASSIC, GITLAB, SLACK, JWT, PRIVATE_KEY]
filler = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80
).map(lambda s: s + "\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(filler, st.sampled_from(SECRETS)), max_size=8))
def test_redaction_is_idempotent_and_removes_every_planted_secret(parts: list[str]) -> None:
    text = "\n".join(parts)
    once, _ = redact(text)
    assert redact(once) == (once, [])
    for secret in SECRETS:
        assert secret not in once


KIND_OF = {
    AWS_KEY_ID: "aws-access-key",
    GITHUB_CLASSIC: "github-token",
    GITLAB: "gitlab-token",
    SLACK: "slack-token",
    JWT: "jwt",
    PRIVATE_KEY: "private-key",
}


@settings(max_examples=150, deadline=None)
@given(filler, st.sampled_from(SECRETS), filler)
def test_text_around_a_secret_survives_byte_for_byte(before: str, secret: str, after: str) -> None:
    assume(redact(before) == (before, []) and redact(after) == (after, []))
    kind = KIND_OF[secret]
    assert redact(before + secret + "\n" + after) == (
        before + f"[redacted: {kind}]\n" + after,
        [kind],
    )


def _hex(n: int, upper: bool = False) -> str:
    value = rnd("0123456789abcdef", n)
    return value.upper() if upper else value


GATED = [
    f"ibm_cloud_iam_key = '{rnd(UP + LOW + DIG + '_-', 44)}'",
    f"cos_hmac_secret_access_key = '{_hex(48)}'",
    f"COS_HMAC_SECRET_ACCESS_KEY = '{_hex(48, upper=True)}'",
    f"cloudant_password = '{_hex(64)}'",
    f"https://acct:{_hex(64, upper=True)}@acct.cloudant.com",
    f"https://acct:{rnd(UP, 24)}@acct.cloudant.com",
    f"softlayer_api_key = '{rnd(LOW + DIG, 64)}'",
    f"https://api.softlayer.com/soap/v3/{rnd(UP + DIG, 64)}",
    f"{rnd(LOW + DIG, 32)}-us12",
]


@pytest.mark.parametrize("text", GATED)
def test_plugin_gates_never_change_a_result(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from decp.core import secrets

    gated = secrets.find_secrets(text)
    monkeypatch.setattr(secrets, "_PLUGIN_GATES", {})
    secrets._plugins.cache_clear()
    try:
        assert secrets.find_secrets(text) == gated
    finally:
        monkeypatch.undo()
        secrets._plugins.cache_clear()
    assert gated, text


def test_patterns_are_cached_so_later_processes_skip_the_plugin_import(tmp_path: Path) -> None:
    """The first process imports detect-secrets and caches its patterns; the next reads them."""
    import subprocess
    import sys

    key = "AKIA" + "Z7QX3NB5KLW2PQRT"
    probe = (
        "import sys; from decp.core.secrets import redact; "
        f"print(redact('aws_key = {key}')[0]); print('detect_secrets' in sys.modules)"
    )
    env = {**os.environ, "DECP_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.stdout.splitlines() for r in runs] == [
        ["aws_key = [redacted: aws-access-key]", "True"],
        ["aws_key = [redacted: aws-access-key]", "False"],
    ], [r.stderr for r in runs]
    assert (tmp_path / "secrets" / "denylists.json").is_file()
