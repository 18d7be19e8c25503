"""Errors of the zero-code runner: what could not be run, and where (file, DAG, task, route)."""

from __future__ import annotations


class ZeroCodeError(RuntimeError):
    """The runner could not run the task as asked (bad input, refused task, missing environment).

    A task that ran and raised is not a :class:`ZeroCodeError`: it is reported as a ``failed`` result.
    """


class ZeroCodeInputError(ZeroCodeError):
    """The payload names a DAG file, DAG or task that does not exist, or an env var that is not set."""


class ZeroCodeRefusedError(ZeroCodeError):
    """The task is of a kind zero-code does not run (sensor, branch, mapped, ...); the message says why."""


class ZeroCodeUnsupportedError(ZeroCodeError):
    """The task asked Airflow for something the runner does not provide yet; the message names the
    Execution API route or feature (e.g. ``include_prior_dates`` XCom reads, deferral)."""
