"""`dev.py run` keeps the background processes up: a worker that exits (as a Celery worker does when Redis restarts
under it) is started again; the web process exiting, or a crash loop, stops everything."""

import sys
import time

from ehr.devstack import Supervisor

EXIT_1 = [sys.executable, "-c", "raise SystemExit(1)"]
SLEEP = [sys.executable, "-c", "import time; time.sleep(30)"]


def _settle(supervisor: Supervisor) -> None:
    for p in supervisor.children.values():
        if p.args != SLEEP:
            p.wait(10)


def _stop(supervisor: Supervisor) -> None:
    for p in supervisor.children.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_worker_that_exits_is_started_again_and_the_web_keeps_running():
    supervisor = Supervisor({"web": SLEEP, "worker": EXIT_1}, keep_running={"worker"})
    try:
        first = supervisor.children["worker"]
        first.wait(10)
        assert supervisor.check() is True
        second = supervisor.children["worker"]
        assert second is not first and second.args == EXIT_1
        assert supervisor.children["web"].poll() is None
    finally:
        _stop(supervisor)


def test_a_crash_loop_stops_everything_after_max_restarts():
    supervisor = Supervisor({"web": SLEEP, "worker": EXIT_1}, keep_running={"worker"})
    try:
        for _ in range(Supervisor.MAX_RESTARTS):
            _settle(supervisor)
            assert supervisor.check() is True
        _settle(supervisor)
        assert supervisor.check() is False
        assert len(supervisor.restarts["worker"]) == Supervisor.MAX_RESTARTS
    finally:
        _stop(supervisor)


def test_the_web_process_exiting_stops_everything():
    supervisor = Supervisor({"web": EXIT_1, "worker": SLEEP}, keep_running={"worker"})
    try:
        supervisor.children["web"].wait(10)
        assert supervisor.check() is False
        assert supervisor.restarts["web"] == []
    finally:
        _stop(supervisor)


def test_a_running_process_is_left_alone():
    supervisor = Supervisor({"web": SLEEP, "worker": SLEEP}, keep_running={"worker"})
    try:
        before = dict(supervisor.children)
        time.sleep(0.2)
        assert supervisor.check() is True
        assert supervisor.children == before
    finally:
        _stop(supervisor)
