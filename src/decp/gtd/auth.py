"""Where the TickTick token comes from, and the OAuth authorization-code flow.

Rules: the token is never written into the repo and never printed. It is read
from, in order: the `TICKTICK_TOKEN` environment variable (a personal API
token from TickTick's settings works here), the OS keyring (service
`decp-ticktick`, when the optional `keyring` package has a real backend), and
a private file outside the repo (`~/.config/decp/ticktick-token`, mode 0600)
that `decp gtd auth ticktick` writes when there is no keyring.
"""

from __future__ import annotations

import html
import os
import secrets
import stat
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from decp.core.errors import DecpError, UsageError
from decp.gtd.ticktick import Secret

TOKEN_ENV = "TICKTICK_TOKEN"
CLIENT_ID_ENV = "TICKTICK_CLIENT_ID"
CLIENT_SECRET_ENV = "TICKTICK_CLIENT_SECRET"
OAUTH_URL_ENV = "DECP_TICKTICK_OAUTH_URL"
DEFAULT_OAUTH_URL = "https://ticktick.com/oauth"
OAUTH_HOSTS = ("ticktick.com", "dida365.com")
KEYRING_SERVICE = "decp-ticktick"
KEYRING_USER = "token"
SCOPE = "tasks:read tasks:write"
DEFAULT_PORT = 8765
CALLBACK_PATH = "/callback"


def token_file() -> Path:
    """The private token file: $XDG_CONFIG_HOME/decp/ticktick-token (or ~/.config/…)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "decp" / "ticktick-token"


def _keyring():  # -> module | None
    """The keyring module if installed and backed by a real store, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return keyring


@dataclass(frozen=True)
class FoundToken:
    secret: Secret
    source: str  # where it came from, safe to print


def find_token() -> FoundToken | None:
    value = os.environ.get(TOKEN_ENV, "").strip()
    if value:
        return FoundToken(Secret(value), f"${TOKEN_ENV}")
    keyring = _keyring()
    if keyring is not None:
        try:
            stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        except Exception:
            stored = None
        if stored:
            return FoundToken(Secret(stored), f"OS keyring ({KEYRING_SERVICE})")
    path = token_file()
    if path.is_file():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return FoundToken(Secret(stored), str(path))
    return None


def require_token() -> FoundToken:
    found = find_token()
    if found is None:
        raise DecpError(
            "no TickTick token.",
            fix=f"run `decp gtd auth ticktick`, or set {TOKEN_ENV} to the API token from "
            "TickTick Settings → Account → API Token.",
        )
    return found


def store_token(token: Secret, repo_root: Path | None) -> str:
    """Keep the token in the keyring, else in the private file; return where (never what)."""
    keyring = _keyring()
    if keyring is not None:
        try:
            keyring.set_password(KEYRING_SERVICE, KEYRING_USER, token.reveal())
            return f"the OS keyring (service {KEYRING_SERVICE!r})"
        except Exception:
            pass
    path = token_file()
    if repo_root is not None:
        resolved, root = path.resolve(), repo_root.resolve()
        if resolved == root or root in resolved.parents:
            raise UsageError(
                f"refusing to write the TickTick token inside the repo ({path}).",
                fix="point XDG_CONFIG_HOME outside the repo, or install `keyring`.",
            )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token.reveal() + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return f"{path} (mode 0600)"


def oauth_base(configured: str | None, config_path: Path | None = None) -> str:
    """The OAuth server: $DECP_TICKTICK_OAUTH_URL as given, else decp.toml's value only
    on an official https host (the client secret and the code go there)."""
    from decp.gtd.ticktick import check_url, trusted_url

    override = os.environ.get(OAUTH_URL_ENV, "").strip()
    if override:
        return check_url(override, f"${OAUTH_URL_ENV}")
    return trusted_url(
        str(configured or DEFAULT_OAUTH_URL), "gtd.ticktick_oauth_url", OAUTH_HOSTS, config_path
    )


def authorize_url(base: str, client_id: str, redirect_uri: str, state: str) -> str:
    query = urlencode(
        {
            "client_id": client_id,
            "scope": SCOPE,
            "state": state,
            "redirect_uri": redirect_uri,
            "response_type": "code",
        }
    )
    return f"{base}/authorize?{query}"


class _Callback:
    """What the browser brought back to the local redirect."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.code: str | None = None
        self.error: str | None = None
        self.done = threading.Event()


def _handler(result: _Callback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != CALLBACK_PATH:
                self.send_error(404)
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if query.get("state") != result.state:
                result.error = "the state parameter did not match (a stale or forged redirect)"
                message = "decp: this authorization does not match the one decp started."
            elif "code" not in query:
                result.error = query.get("error", "no code in the redirect")
                message = f"decp: TickTick did not authorize ({html.escape(result.error)})."
            else:
                result.code = query["code"]
                message = "decp is authorized. You can close this tab."
            body = f"<!doctype html><title>decp</title><p>{message}</p>".encode()
            self.send_response(200 if result.code else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            result.done.set()

        def log_message(self, *args: object) -> None:
            return

    return Handler


def run_auth_flow(
    *,
    oauth_url: str,
    port: int,
    open_browser: bool,
    timeout: float,
    say: Callable[[str], None],
) -> Secret:
    """Authorize in the browser, catch the code on 127.0.0.1, trade it for a token."""
    import httpx

    client_id = os.environ.get(CLIENT_ID_ENV, "").strip()
    client_secret = Secret(os.environ.get(CLIENT_SECRET_ENV, ""))
    if not client_id or not client_secret.reveal():
        raise UsageError(
            f"{CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} must be set for the OAuth flow.",
            fix="register an app at https://developer.ticktick.com (Manage Apps), export both, "
            f"or skip OAuth and set {TOKEN_ENV} to the API token from Settings → Account.",
        )
    result = _Callback(secrets.token_urlsafe(24))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(result))
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port} for the redirect ({exc.strerror}).",
            fix="free the port or pass --port (and register that redirect URL in your TickTick app).",
        ) from None
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
    url = authorize_url(oauth_url, client_id, redirect_uri, result.state)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        say(f"Redirect URL (register it in your TickTick app): {redirect_uri}")
        say(f"Open this URL to authorize decp:\n{url}")
        if open_browser:
            webbrowser.open(url)
        if not result.done.wait(timeout):
            raise DecpError(
                f"no authorization arrived within {timeout:.0f}s.",
                fix="rerun `decp gtd auth ticktick` and finish in the browser (or raise --timeout).",
            )
    finally:
        server.shutdown()
        server.server_close()
    if result.code is None:
        raise DecpError(
            f"authorization failed: {result.error}.", fix="rerun `decp gtd auth ticktick`."
        )
    try:
        response = httpx.post(
            f"{oauth_url}/token",
            auth=(client_id, client_secret.reveal()),
            data={
                "code": result.code,
                "grant_type": "authorization_code",
                "scope": SCOPE,
                "redirect_uri": redirect_uri,
            },
            headers={"Accept": "application/json"},
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        raise DecpError(
            f"cannot reach {oauth_url}/token ({type(exc).__name__}).",
            fix=f"check the network or {OAUTH_URL_ENV}.",
        ) from None
    if response.status_code != 200:
        raise DecpError(
            f"TickTick refused the code exchange (HTTP {response.status_code}).",
            fix=f"check {CLIENT_ID_ENV}/{CLIENT_SECRET_ENV} and that the redirect URL {redirect_uri} is registered.",
        )
    try:
        token = response.json().get("access_token", "")
    except ValueError:
        token = ""
    if not token:
        raise DecpError(
            "the token response had no access_token.", fix="rerun `decp gtd auth ticktick`."
        )
    return Secret(token)
