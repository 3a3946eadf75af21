"""A small TickTick Open API client on httpx: retries, quirks, and a token that never leaks.

Why hand-written: decp needs eight endpoints, exact control over retries
(a task create is not idempotent, so a 5xx there is never blindly retried),
and a guarantee that the bearer token appears in no message, repr or log.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core.errors import DecpError

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "https://api.ticktick.com/open/v1"
BASE_URL_ENV = "DECP_TICKTICK_BASE_URL"
# The only hosts a URL from a repo file may send the token to (TickTick, and Dida365 in China).
API_HOSTS = ("api.ticktick.com", "api.dida365.com")
RETRY_DELAY_ENV = "DECP_TICKTICK_RETRY_DELAY"
INBOX = "inbox"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5
MAX_RETRY_AFTER_S = 120.0

# TickTick task status codes.
STATUS_OPEN, STATUS_COMPLETED, STATUS_ABANDONED = 0, 2, -1

_DATE_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$"
)


def parse_date(text: str | None) -> datetime | None:
    """`2019-11-13T03:00:00+0000`, with or without milliseconds (TickTick sends both)."""
    if not text:
        return None
    match = _DATE_RE.match(text.strip())
    if not match:
        return None
    day, hh, mm, ss, frac, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone[:3] + ":" + zone[-2:]
    micro = (frac or "0").ljust(6, "0")
    return datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}.{micro}{zone}")


def format_date(moment: datetime) -> str:
    """TickTick's own request format: UTC, `+0000`, no milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class Secret:
    """A token that refuses to show itself in reprs, f-strings and tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.strip()

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class TickTickError(DecpError):
    """A TickTick call failed; `status` is the HTTP status (0: no response)."""

    def __init__(self, message: str, *, status: int = 0, fix: str | None = None) -> None:
        self.status = status
        super().__init__(message, fix=fix)


class TickTickAuthError(TickTickError):
    """The token was refused: every further call would fail the same way."""


class TickTickNotFound(TickTickError):
    """404: the task or list is gone (deleted, or moved to another list)."""


def retry_delay(attempt: int, retry_after: str | None, base: float) -> float:
    """Seconds to wait before attempt `attempt + 1`: Retry-After if given, else base·2^attempt."""
    if retry_after:
        value = retry_after.strip()
        if value.replace(".", "", 1).isdigit():
            return min(float(value), MAX_RETRY_AFTER_S)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), MAX_RETRY_AFTER_S)
    return base * (2**attempt)


def check_url(url: str, source: str) -> str:
    """`url` if httpx can call it (http/https, a valid host), else a one-line DecpError."""
    import httpx

    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise DecpError(
            f"{source} is not a valid URL ({text!r}: {exc}).",
            fix="give a full URL such as https://api.ticktick.com/open/v1.",
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host or any(c.isspace() for c in text):
        raise DecpError(
            f"{source} is not an http(s) URL ({text!r}).",
            fix="give a full URL such as https://api.ticktick.com/open/v1.",
        )
    return text.rstrip("/")


def trusted_url(url: str, source: str, hosts: tuple[str, ...], config_path: Path | None) -> str:
    """A URL read from a repo file: https on one of `hosts` only, so a committed
    decp.toml can never send the bearer token (or the OAuth secret) elsewhere."""
    from decp.core.errors import DataError

    text = check_url(url, source)
    import httpx

    parsed = httpx.URL(text)
    if parsed.scheme != "https" or parsed.host not in hosts or parsed.port not in (None, 443):
        raise DataError(
            f"{source} = {text!r} is not an official TickTick host; decp sends the token "
            f"only to https://{' or https://'.join(hosts)}.",
            path=config_path,
            fix=f"set it back to https://{hosts[0]}/..., or, to use another server on purpose, "
            f"name it in the environment ({BASE_URL_ENV} / DECP_TICKTICK_OAUTH_URL): "
            "a repo file alone cannot redirect the token.",
        )
    return text


def default_retry_base() -> float:
    raw = os.environ.get(RETRY_DELAY_ENV, "")
    try:
        return max(float(raw), 0.0) if raw else 1.0
    except ValueError:
        return 1.0


class TickTickClient:
    """The Open API endpoints decp uses. Writes are refused when `read_only` (dry runs)."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        read_only: bool = False,
        retry_base: float | None = None,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.read_only = read_only
        self.retry_base = default_retry_base() if retry_base is None else retry_base
        self._sleep = sleep
        import httpx  # lazily: `decp gtd export --to todotxt` must not pay for it

        self._http = httpx.Client(timeout=timeout, headers={"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"TickTickClient({self.base_url!r}, token=***)"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TickTickClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------

    def _request(self, method: str, path: str, *, body: Any = None, idempotent: bool = True) -> Any:
        """One call with backoff. A non-idempotent call is retried only on 429 (not processed)."""
        write = (
            method != "GET"
            and not path.startswith("/task/completed")
            and not path.startswith("/task/filter")
        )
        if write and self.read_only:
            raise TickTickError(f"refusing {method} {path} during a dry run.")
        import httpx

        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self._http.request(method, url, json=body, headers=headers)
            except httpx.InvalidURL as exc:
                raise TickTickError(
                    f"TickTick API URL {self.base_url!r} is not valid ({exc}).",
                    fix=f"check {BASE_URL_ENV} / [gtd] ticktick_api_url.",
                ) from None
            except httpx.HTTPError as exc:
                if attempt + 1 < MAX_ATTEMPTS and idempotent:
                    self._sleep(retry_delay(attempt, None, self.retry_base))
                    continue
                detail = self._token.scrub(f"{type(exc).__name__}: {exc}")
                raise TickTickError(
                    f"TickTick unreachable at {self.base_url} ({detail}).",
                    fix=f"check the network, or the API URL ({BASE_URL_ENV} / [gtd] ticktick_api_url).",
                ) from None
            status = response.status_code
            retryable = status == 429 or (idempotent and status in RETRY_STATUSES)
            if retryable and attempt + 1 < MAX_ATTEMPTS:
                self._sleep(
                    retry_delay(attempt, response.headers.get("Retry-After"), self.retry_base)
                )
                continue
            if status >= 400:
                raise self._error(method, path, response)
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise TickTickError(
                    f"TickTick sent non-JSON for {method} {path} (HTTP {status}).", status=status
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, method: str, path: str, response: httpx.Response) -> TickTickError:
        status = response.status_code
        snippet = self._token.scrub(" ".join(response.text.split())[:200])
        where = f"{method} {path} → HTTP {status}"
        if status in (401, 403):
            return TickTickAuthError(
                f"TickTick refused the token ({where}).",
                status=status,
                fix="run `decp gtd auth ticktick`, or set TICKTICK_TOKEN to a current API token.",
            )
        if status == 404:
            return TickTickNotFound(f"not found in TickTick ({where}).", status=status)
        if status == 429:
            return TickTickError(
                f"TickTick rate limit still hit after {MAX_ATTEMPTS} tries ({where}).",
                status=status,
                fix="wait a minute and rerun; finished loops are not redone.",
            )
        detail = f": {snippet}" if snippet else ""
        return TickTickError(
            f"TickTick failed ({where}){detail}.",
            status=status,
            fix="rerun later; finished loops are not redone.",
        )

    # -- projects (lists) ----------------------------------------------------

    def list_projects(self) -> list[dict[str, Any]]:
        return _tasks(self._request("GET", "/project"), "GET /project")

    def create_project(self, name: str) -> dict[str, Any]:
        reply = self._request(
            "POST",
            "/project",
            body={"name": name, "viewMode": "list", "kind": "TASK"},
            idempotent=False,
        )
        return _with_id(reply, "POST /project")

    def project_data(self, project_id: str) -> dict[str, Any]:
        """The list and its open tasks: {project, tasks, columns}."""
        reply = self._request("GET", f"/project/{project_id}/data") or {}
        if not isinstance(reply, dict):
            raise _shape_error(f"GET /project/{project_id}/data")
        return {**reply, "tasks": _tasks(reply.get("tasks"), f"GET /project/{project_id}/data")}

    # -- tasks ---------------------------------------------------------------

    def get_task(self, project_id: str, task_id: str) -> dict[str, Any]:
        return _with_id(self._request("GET", f"/project/{project_id}/task/{task_id}"), "GET task")

    def create_task(self, task: dict[str, Any]) -> dict[str, Any]:
        reply = self._request("POST", "/task", body=_date_quirk(task), idempotent=False)
        return _with_id(reply, "POST /task")

    def update_task(self, task: dict[str, Any]) -> dict[str, Any]:
        """Post the FULL task object back: fields left out may be cleared by TickTick."""
        reply = self._request("POST", f"/task/{task['id']}", body=_date_quirk(task))
        return reply if isinstance(reply, dict) else task

    def complete_task(self, project_id: str, task_id: str) -> None:
        self._request("POST", f"/project/{project_id}/task/{task_id}/complete")

    def completed_tasks(self, project_ids: list[str], since: datetime) -> list[dict[str, Any]]:
        """Completed tasks in the lists since `since`; falls back to /task/filter (status 2).

        The window ends a day ahead: a completion stamped with milliseconds in
        the current second must not fall just outside it.
        """
        body = {
            "projectIds": project_ids,
            "startDate": format_date(since),
            "endDate": format_date(datetime.now(UTC) + timedelta(days=1)),
        }
        try:
            return _tasks(self._request("POST", "/task/completed", body=body), "/task/completed")
        except TickTickNotFound:
            # /task/filter's dates select by the task's own dates, not its
            # completion, so the fallback asks by status alone.
            return self.filter_tasks(project_ids, [STATUS_COMPLETED])

    def filter_tasks(self, project_ids: list[str], statuses: list[int]) -> list[dict[str, Any]]:
        body = {"projectIds": project_ids, "status": statuses}
        return _tasks(self._request("POST", "/task/filter", body=body), "/task/filter")


def _shape_error(what: str) -> TickTickError:
    return TickTickError(
        f"TickTick answered {what} with an unexpected shape.",
        fix=f"check the API URL ({BASE_URL_ENV} / [gtd] ticktick_api_url) points at the Open API (…/open/v1).",
    )


def _with_id(reply: Any, what: str) -> dict[str, Any]:
    if not isinstance(reply, dict) or not reply.get("id"):
        raise _shape_error(what)
    return reply


def _tasks(reply: Any, what: str) -> list[dict[str, Any]]:
    """A list of objects with ids (tasks or projects); anything else is a wrong endpoint."""
    if reply is None:
        return []
    if not isinstance(reply, list) or not all(isinstance(t, dict) and t.get("id") for t in reply):
        raise _shape_error(what)
    return reply


def _date_quirk(task: dict[str, Any]) -> dict[str, Any]:
    """TickTick keeps a dueDate that is cleared alone; clear startDate with it."""
    if "dueDate" in task and not task["dueDate"] and task.get("startDate"):
        task = {**task, "startDate": None}
    return task
