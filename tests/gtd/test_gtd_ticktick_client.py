"""The TickTick client against the local fake over real HTTP: shapes, retries, errors, quirks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from ticktick_server import FakeTickTick, shape

from decp.gtd.ticktick import (
    Secret,
    TickTickAuthError,
    TickTickClient,
    TickTickError,
    TickTickNotFound,
    parse_date,
    retry_delay,
)


@pytest.fixture
def fake() -> Iterator[FakeTickTick]:
    with FakeTickTick() as server:
        yield server


def client_for(fake: FakeTickTick, **kwargs) -> TickTickClient:
    return TickTickClient(fake.api_url, Secret(fake.token), retry_base=0.001, **kwargs)


def test_dates_parse_with_and_without_milliseconds() -> None:
    plain = parse_date("2019-11-13T03:00:00+0000")
    millis = parse_date("2019-11-13T03:00:00.123+0000")
    assert plain == datetime(2019, 11, 13, 3, 0, tzinfo=UTC)
    assert millis == plain + timedelta(milliseconds=123)
    assert parse_date("2019-11-13T05:00:00+0200") == plain
    assert parse_date("") is None and parse_date("13/11/2019") is None


def test_retry_after_is_honoured_else_exponential() -> None:
    assert retry_delay(0, "3", base=0.5) == 3.0
    assert retry_delay(2, None, base=0.5) == 2.0
    assert retry_delay(0, "9999", base=0.5) == 120.0  # capped
    assert retry_delay(1, "not a date", base=0.25) == 0.5


def test_server_answers_keep_the_recorded_shapes(fake: FakeTickTick) -> None:
    with client_for(fake) as client:
        project = client.create_project("decp")
        assert set(shape("project.json")) <= set(project)
        task = client.create_task(
            {"projectId": project["id"], "title": "x", "content": "y", "tags": ["decp"]}
        )
        recorded = shape("task.json")
        assert {
            "id",
            "projectId",
            "title",
            "content",
            "status",
            "sortOrder",
            "etag",
            "tags",
            "timeZone",
        } <= set(task)
        assert set(task) <= set(recorded) | {"content"}
        data = client.project_data(project["id"])
        assert set(data) == set(shape("project_data.json"))
        client.complete_task(project["id"], task["id"])
        done = client.get_task(project["id"], task["id"])
        assert (
            done["status"] == 2 and "." in done["completedTime"]
        )  # milliseconds, as TickTick sends
        assert parse_date(done["completedTime"]) is not None
        assert client.project_data(project["id"])["tasks"] == []  # open tasks only
        since = datetime.now(UTC) - timedelta(days=1)
        assert [t["id"] for t in client.completed_tasks([project["id"]], since)] == [task["id"]]
        fake.completed_endpoint = False  # an API without /task/completed: /task/filter status 2
        assert [t["id"] for t in client.completed_tasks([project["id"]], since)] == [task["id"]]
        assert any(r.path.endswith("/task/filter") for r in fake.requests)


def test_update_posts_the_full_object_so_nothing_is_lost(fake: FakeTickTick) -> None:
    project = fake.add_project("decp")
    task = fake.add_task(project["id"], "t")
    fake.edit_task(
        task["id"],
        dueDate="2026-01-09T23:00:00+0000",
        startDate="2026-01-09T23:00:00+0000",
        priority=5,
        reminders=["TRIGGER:PT0S"],
    )
    with client_for(fake) as client:
        full = client.get_task(project["id"], task["id"])
        client.update_task({**full, "title": "t2"})
        after = client.get_task(project["id"], task["id"])
    assert after["title"] == "t2"
    assert (after["priority"], after["reminders"], after["dueDate"]) == (
        5,
        ["TRIGGER:PT0S"],
        "2026-01-09T23:00:00+0000",
    )


def test_clearing_due_date_clears_start_date_too(fake: FakeTickTick) -> None:
    project = fake.add_project("decp")
    task = fake.add_task(project["id"], "t")
    fake.edit_task(
        task["id"], dueDate="2026-01-09T23:00:00+0000", startDate="2026-01-09T23:00:00+0000"
    )
    with client_for(fake) as client:
        full = client.get_task(project["id"], task["id"])
        client.update_task({**full, "dueDate": None})
        after = client.get_task(project["id"], task["id"])
    assert "dueDate" not in after and "startDate" not in after


def test_429_then_success_is_retried(fake: FakeTickTick) -> None:
    fake.add_project("decp")
    fake.fail("GET", r"^/project$", 429, times=2, retry_after="0")
    waits: list[float] = []
    with client_for(fake, sleep=waits.append) as client:
        assert [p["name"] for p in client.list_projects()] == ["decp"]
    assert waits == [0.0, 0.0]  # Retry-After: 0 honoured over the exponential delay
    assert [r.status for r in fake.requests] == [429, 429, 200]


def test_create_is_not_retried_on_5xx_but_updates_are(fake: FakeTickTick) -> None:
    project = fake.add_project("decp")
    fake.fail("POST", r"^/task$", 500, times=1)
    with client_for(fake) as client:
        with pytest.raises(TickTickError) as info:
            client.create_task({"projectId": project["id"], "title": "x"})
        assert info.value.status == 500
        task = client.create_task({"projectId": project["id"], "title": "x"})
        fake.fail("POST", r"^/task/[0-9a-f]+$", 503, times=2)
        client.update_task({**task, "title": "y"})
    assert len(fake.tasks_in(project["id"])) == 1
    assert fake.tasks_in(project["id"])[0]["title"] == "y"


def test_errors_never_contain_the_token(fake: FakeTickTick) -> None:
    fake.fail("GET", r"^/project$", 500, times=10, echo_auth=True)
    with client_for(fake) as client, pytest.raises(TickTickError) as info:
        client.list_projects()
    message = info.value.one_line()
    assert "HTTP 500" in message and "***" in message
    assert (
        fake.token not in message
        and fake.token not in repr(info.value)
        and fake.token not in repr(client)
    )
    wrong = "tt-wrong-" + "c0ffee" * 4
    bad = TickTickClient(fake.api_url, Secret(wrong), retry_base=0.001)
    with bad, pytest.raises(TickTickAuthError) as denied:
        bad.list_projects()
    assert wrong not in denied.value.one_line() and "decp gtd auth ticktick" in (
        denied.value.fix or ""
    )
    assert repr(Secret(wrong)) == "Secret('***')" and wrong not in f"{Secret(wrong)}"


def test_missing_task_is_not_found_and_dry_run_client_refuses_writes(fake: FakeTickTick) -> None:
    project = fake.add_project("decp")
    with client_for(fake) as client, pytest.raises(TickTickNotFound):
        client.get_task(project["id"], "0" * 24)
    with client_for(fake, read_only=True) as client:
        assert client.project_data(project["id"])["tasks"] == []
        with pytest.raises(TickTickError):
            client.create_task({"projectId": project["id"], "title": "x"})
    assert fake.writes() == []


def test_unreachable_server_is_one_clear_error() -> None:
    client = TickTickClient("http://127.0.0.1:9/open/v1", Secret("tok-" + "1" * 20), retry_base=0.0)
    with client, pytest.raises(TickTickError) as info:
        client.list_projects()
    assert "unreachable" in info.value.one_line() and "tok-" not in info.value.one_line()


def test_a_wrong_endpoint_is_a_clear_error_not_a_traceback(fake: FakeTickTick) -> None:
    client = TickTickClient(fake.url + "/oauth", Secret(fake.token), retry_base=0.0)
    with client, pytest.raises(TickTickError) as info:
        client.list_projects()
    assert "HTTP 404" in info.value.one_line()
    project = fake.add_project("decp")
    fake.edit_task(fake.add_task(project["id"], "t")["id"], id="")  # a task without an id
    with client_for(fake) as good, pytest.raises(TickTickError) as shape_info:
        good.project_data(project["id"])
    assert "unexpected shape" in shape_info.value.one_line()
