"""The proxy operator's polling schedule for a Dagster run's status (pure: times are passed in)."""

from __future__ import annotations

from airlift_components.in_airflow.base_operators import RunPollSchedule


def test_polls_every_half_second_at_first_then_a_quarter_of_the_time_waited_up_to_the_cap() -> None:
    schedule = RunPollSchedule(max_interval=10.0, status="STARTED", now=100.0)
    assert schedule.next_delay("STARTED", now=100.0) == 0.5
    assert schedule.next_delay("STARTED", now=101.0) == 0.5
    assert schedule.next_delay("STARTED", now=112.0) == 3.0
    assert schedule.next_delay("STARTED", now=200.0) == 10.0


def test_count_restarts_when_the_run_leaves_the_queue_so_a_short_run_is_seen_promptly() -> None:
    schedule = RunPollSchedule(max_interval=10.0, status="QUEUED", now=0.0)
    assert schedule.next_delay("QUEUED", now=6.0) == 1.5
    assert schedule.next_delay("STARTING", now=8.0) == 2.0
    # Executing from here: back to 0.5 s, growing from this moment on, not from the launch.
    assert schedule.next_delay("STARTED", now=9.0) == 0.5
    assert schedule.next_delay("STARTED", now=11.0) == 0.5
    assert schedule.next_delay("STARTED", now=13.0) == 1.0


def test_count_does_not_restart_for_a_run_already_executing_when_launched() -> None:
    schedule = RunPollSchedule(max_interval=10.0, status="STARTED", now=0.0)
    assert schedule.next_delay("STARTED", now=8.0) == 2.0
