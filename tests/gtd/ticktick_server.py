"""A local fake of TickTick's Open API and OAuth endpoints, served over real HTTP on 127.0.0.1.

Why a real server and not mocked httpx: the CLI runs as a separate process in
the tests, so only a real socket can stand in for api.ticktick.com. Responses
are built from the recorded shapes in tests/data/ticktick (same keys, same
`+0000` dates, completions with milliseconds), and the server is strict where
TickTick is: updates REPLACE the task with the posted object (a client that
posts partial objects loses fields, and the tests see it), `/project/{id}/data`
lists open tasks only, and clearing `dueDate` alone keeps the old one.

Tests drive it directly: `edit_task`, `complete_task`, `abandon_task` and
`add_task` play the user in the TickTick app; `fail` injects 429/5xx replies;
`writes()` lists every mutating request (a dry run must leave it empty).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

DATA = Path(__file__).resolve().parents[1] / "data" / "ticktick"
API = "/open/v1"
INBOX_ID = "inbox1014798915"


def shape(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def object_id() -> str:
    """24 hex digits, like TickTick's (MongoDB) ids."""
    return secrets.token_hex(12)


def now_stamp(millis: bool = False) -> str:
    moment = datetime.now(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: str | None
    after: bool  # process the request, then fail (an ambiguous 5xx)
    echo_auth: bool  # put the Authorization header into the error body


@dataclass
class Request:
    method: str
    path: str
    body: Any
    status: int


class FakeTickTick:
    """State + a ThreadingHTTPServer in a daemon thread. Use as a context manager."""

    def __init__(
        self,
        token: str = "tt-token-" + "7f3c9a1e5b2d4c6a8e0f",
        *,
        client_id: str = "decp-client",
        client_secret: str = "decp-secret-9b1f",
    ) -> None:
        self.token = token
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.RLock()
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.codes: dict[str, str] = {}  # code → redirect_uri
        self.completed_endpoint = True
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> FakeTickTick:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + API

    @property
    def oauth_url(self) -> str:
        return self.url + "/oauth"

    # -- what tests do as "the user in the TickTick app" -----------------------

    def add_project(self, name: str) -> dict[str, Any]:
        project = {**shape("project.json"), "id": object_id(), "name": name, "groupId": None}
        with self.lock:
            self.projects[project["id"]] = project
        return copy.deepcopy(project)

    def add_task(
        self, project_id: str, title: str, *, content: str = "", tags: list[str] | None = None
    ) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                self._create(
                    {
                        "projectId": project_id,
                        "title": title,
                        "content": content,
                        "tags": tags or [],
                    }
                )
            )

    def edit_task(self, task_id: str, **fields: Any) -> None:
        with self.lock:
            self.tasks[task_id].update(fields)
            self.tasks[task_id]["etag"] = secrets.token_hex(4)

    def complete_task(self, task_id: str) -> None:
        with self.lock:
            self.tasks[task_id].update(status=2, completedTime=now_stamp(millis=True))

    def abandon_task(self, task_id: str) -> None:
        with self.lock:
            self.tasks[task_id].update(status=-1, completedTime=now_stamp())

    def project_named(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next(
                (copy.deepcopy(p) for p in self.projects.values() if p["name"] == name), None
            )

    def tasks_in(self, project_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(t) for t in self.tasks.values() if t["projectId"] == project_id]

    def task_for(self, loop_id: str) -> dict[str, Any]:
        with self.lock:
            found = [
                copy.deepcopy(t)
                for t in self.tasks.values()
                if t["title"].startswith(f"[{loop_id}]")
            ]
        assert len(found) == 1, f"{len(found)} tasks for {loop_id}"
        return found[0]

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        after: bool = False,
        echo_auth: bool = False,
    ) -> None:
        with self.lock:
            self.faults.append(
                Fault(method, re.compile(path_regex), status, times, retry_after, after, echo_auth)
            )

    def writes(self) -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method != "GET"
                and not r.path.endswith(("/task/completed", "/task/filter"))
                and r.path.startswith(API)
            ]

    # -- the API ---------------------------------------------------------------

    def _resolve_project(self, project_id: str) -> str:
        return INBOX_ID if project_id == "inbox" else project_id

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        project_id = self._resolve_project(str(body.get("projectId") or "inbox"))
        template = shape("task.json")
        task = {
            key: template[key]
            for key in ("sortOrder", "timeZone", "isAllDay", "priority", "status", "kind")
        }
        task.update({k: v for k, v in body.items() if v is not None})
        task.update(
            id=object_id(),
            projectId=project_id,
            etag=secrets.token_hex(4),
            status=max(int(body.get("status") or 0), 0),  # v1 cannot create a won't-do task
        )
        task.setdefault("tags", [])
        task["sortOrder"] = -1099511627776 * (len(self.tasks) + 1)
        self.tasks[task["id"]] = task
        return task

    def handle(
        self, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """One request → (status, JSON body, extra headers). Runs under the lock."""
        if path.startswith("/oauth/"):
            return self._oauth(method, path, body, headers)
        if not urlsplit(path).path.startswith(API):
            return 404, {"errorMessage": "no such route"}, {}
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.token}":
            presented = auth.removeprefix("Bearer ")
            return (
                401,
                {
                    "error": "invalid_token",
                    "error_description": f"Invalid access token: {presented}",
                },
                {},
            )
        route = urlsplit(path).path[len(API) :]
        for fault in self.faults:
            if fault.remaining > 0 and fault.method == method and fault.pattern.search(route):
                fault.remaining -= 1
                if fault.after:
                    self._route(method, route, body)
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                detail = f" (request auth: {auth})" if fault.echo_auth else ""
                return (
                    fault.status,
                    {
                        "errorCode": "server_error",
                        "errorMessage": f"injected {fault.status}{detail}",
                    },
                    extra,
                )
        return self._route(method, route, body)

    def _route(self, method: str, route: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        not_found = (404, {"errorCode": "not_found", "errorMessage": "not found"}, {})
        if method == "GET" and route == "/project":
            return 200, [copy.deepcopy(p) for p in self.projects.values()], {}
        if method == "POST" and route == "/project":
            if not isinstance(body, dict) or not body.get("name"):
                return 400, {"errorMessage": "name is required"}, {}
            project = {**shape("project.json"), "id": object_id(), "groupId": None}
            project.update(
                {k: v for k, v in body.items() if k in ("name", "color", "viewMode", "kind")}
            )
            self.projects[project["id"]] = project
            return 200, copy.deepcopy(project), {}
        match = re.fullmatch(r"/project/([^/]+)/data", route)
        if method == "GET" and match:
            project_id = self._resolve_project(match.group(1))
            if project_id not in self.projects and project_id != INBOX_ID:
                return not_found
            tasks = [
                copy.deepcopy(t)
                for t in self.tasks.values()
                if t["projectId"] == project_id and t["status"] == 0
            ]
            project = self.projects.get(project_id, {"id": INBOX_ID, "name": "Inbox"})
            return 200, {"project": copy.deepcopy(project), "tasks": tasks, "columns": []}, {}
        match = re.fullmatch(r"/project/([^/]+)/task/([^/]+)", route)
        if method == "GET" and match:
            task = self.tasks.get(match.group(2))
            if task is None or task["projectId"] != self._resolve_project(match.group(1)):
                return not_found
            return 200, copy.deepcopy(task), {}
        if method == "DELETE" and match:
            self.tasks.pop(match.group(2), None)
            return 200, None, {}
        match = re.fullmatch(r"/project/([^/]+)/task/([^/]+)/complete", route)
        if method == "POST" and match:
            task = self.tasks.get(match.group(2))
            if task is None:
                return not_found
            task.update(status=2, completedTime=now_stamp(millis=True))
            return 200, None, {}
        if method == "POST" and route == "/task":
            if not isinstance(body, dict) or not body.get("title"):
                return 400, {"errorMessage": "title is required"}, {}
            project_id = self._resolve_project(str(body.get("projectId") or "inbox"))
            if project_id not in self.projects and project_id != INBOX_ID:
                return not_found
            return 200, copy.deepcopy(self._create(body)), {}
        if method == "POST" and route in ("/task/completed", "/task/filter"):
            if route == "/task/completed" and not self.completed_endpoint:
                return not_found
            return 200, self._query(route, body or {}), {}
        match = re.fullmatch(r"/task/([^/]+)", route)
        if method == "POST" and match:
            return self._update(match.group(1), body)
        return not_found

    def _update(self, task_id: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        old = self.tasks.get(task_id)
        if old is None:
            return 404, {"errorMessage": "task not found"}, {}
        if not isinstance(body, dict) or body.get("id") != task_id or not body.get("projectId"):
            return 400, {"errorMessage": "id and projectId are required"}, {}
        new = {k: v for k, v in body.items() if v is not None}
        new["projectId"] = self._resolve_project(str(new["projectId"]))
        if not new.get("dueDate") and new.get("startDate") and old.get("dueDate"):
            new["dueDate"] = old["dueDate"]  # TickTick's quirk: dueDate alone cannot be cleared
        new["etag"] = secrets.token_hex(4)
        new.setdefault("status", 0)
        if new["status"] == -1:
            # The real Open API v1 ignores "won't do" on update (only the private v2
            # API sets it): the task keeps its old status.
            new["status"] = old.get("status", 0)
        if new["status"] == 0:
            new.pop("completedTime", None)
        self.tasks[task_id] = new
        return 200, copy.deepcopy(new), {}

    def _query(self, route: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        projects = {self._resolve_project(p) for p in body.get("projectIds") or []}
        statuses = [2] if route == "/task/completed" else body.get("status") or [0]
        start = _parse(body.get("startDate"))
        end = _parse(body.get("endDate"))
        out = []
        for task in self.tasks.values():
            if projects and task["projectId"] not in projects:
                continue
            if task["status"] not in statuses:
                continue
            if route == "/task/completed" and (start or end):
                done = _parse(task.get("completedTime"))
                if done is None or (start and done < start) or (end and done > end):
                    continue
            tag = body.get("tag")
            if tag and not set(tag) & set(task.get("tags") or []):
                continue
            out.append(copy.deepcopy(task))
        return out

    def _oauth(
        self, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and path.startswith("/oauth/authorize"):
            query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
            if (
                query.get("client_id") != self.client_id
                or query.get("response_type") != "code"
                or query.get("scope") != "tasks:read tasks:write"
            ):
                return 400, {"error": "invalid_request"}, {}
            code = secrets.token_urlsafe(8)
            self.codes[code] = query["redirect_uri"]
            location = (
                query["redirect_uri"]
                + "?"
                + urlencode({"code": code, "state": query.get("state", "")})
            )
            return 302, None, {"Location": location}
        if method == "POST" and path == "/oauth/token":
            expected = (
                "Basic "
                + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            )
            if headers.get("authorization") != expected:
                return 401, {"error": "invalid_client"}, {}
            form = body if isinstance(body, dict) else {}
            code = form.get("code", "")
            if (
                form.get("grant_type") != "authorization_code"
                or self.codes.pop(code, None) != form.get("redirect_uri")
                or form.get("scope") != "tasks:read tasks:write"
            ):
                return 400, {"error": "invalid_grant"}, {}
            return 200, {**shape("token.json"), "access_token": self.token}, {}
        return 404, {"error": "not_found"}, {}


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _handler(fake: FakeTickTick) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            if raw:
                kind = self.headers.get("Content-Type", "")
                if "application/x-www-form-urlencoded" in kind:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                else:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path
            with fake.lock:
                status, payload, extra = fake.handle(method, path, body, headers)
                fake.requests.append(Request(method, urlsplit(path).path, body, status))
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if data:
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, *args: object) -> None:
            return

    return Handler
