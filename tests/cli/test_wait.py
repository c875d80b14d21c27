"""``zart wait``: exit 0 completed, 1 failed or cancelled, 2 timeout,
3 not found; it prints the execution as it stands then."""

from __future__ import annotations

from tests.cli.conftest import DEADLINE, Zart, client, drive


def test_wait_exits_0_for_a_completed_execution(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "cli-double", "--data", "21", "--id", "e1")
    drive(url)
    done = zart_cli("wait", "e1")
    assert done.code == 0
    assert "output:      42" in done.out.splitlines()
    assert zart_cli("wait", "e1", "--json").json()["output"] == 42


def test_wait_exits_1_for_a_failed_or_cancelled_execution(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "doomed", "--data", '"kaboom"', "--id", "d1")
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    drive(url)
    zart_cli.ok("cancel", "a1")
    failed = zart_cli("wait", "d1")
    assert failed.code == 1 and "status:      failed" in failed.out.splitlines()
    assert "RuntimeError: kaboom" in failed.out
    cancelled = zart_cli("wait", "a1", "--json")
    assert cancelled.code == 1 and cancelled.json()["status"] == "cancelled"


def test_wait_exits_2_when_the_timeout_passes_first(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    drive(url)
    for timeout in ("0", "0.2"):
        late = zart_cli("wait", "a1", "--timeout", timeout, "--json")
        assert late.code == 2
        assert late.json()["status"] == "waiting"
        assert late.error() == (
            f"execution 'a1' did not end within {float(timeout):g} s (status waiting)"
        )


def test_wait_exits_3_for_an_unknown_execution(zart_cli: Zart) -> None:
    zart_cli.ok("migrate")
    missing = zart_cli("wait", "nope", "--json")
    assert missing.code == 3 and missing.out == ""
    assert missing.error() == "no execution with id 'nope'"


def test_wait_returns_once_another_process_ends_the_execution(zart_cli: Zart, url: str) -> None:
    zart_cli.ok("schedule", "approval", "--data", '"o"', "--id", "a1")
    drive(url)
    waiting = zart_cli.popen("wait", "a1", "--json")
    try:
        with client(url) as c:
            c.offer_event("a1", "go", "yes")
        drive(url)
        out, err = waiting.communicate(timeout=DEADLINE)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert zart_cli("status", "a1", "--json").json()["output"] == {"order": "o", "answer": "yes"}
    assert b'"status": "completed"' in out
