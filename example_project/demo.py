"""`make demo`: start a local Airflow 3 on 127.0.0.1:8080 with the example DAGs and show what the client sees."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from airlift_components.airflow_api import AirflowClient, BasicAuthBackend
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent


def main(argv: list[str] | None = None) -> int:
    """Run the demo; with ``--once`` exit after printing instead of keeping Airflow up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="migrate")
    parser.add_argument("--once", action="store_true", help="exit when done instead of waiting for Ctrl-C")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        ROOT / "airflow_dags",
        REPO / ".demo" / "airflow_home",
        port=args.port,
    )
    print(f"Starting Airflow 3 on {airflow.url} (user {ADMIN_USERNAME}/{ADMIN_PASSWORD}) ...", flush=True)
    airflow.start()
    try:
        airflow.wait_for_dags(["demo_hello"])
        client = AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD))
        run = client.trigger_dag_run("demo_hello")
        print(f"Triggered demo_hello run {run.run_id}; waiting ...", flush=True)
        client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300)
        print(f"\nAirflow {client.version_info.version} (API {client.api_version}) at {airflow.url}")
        print(f"{'DAG':<30} {'latest run':<45} state")
        runs = {r.dag_id: r for r in client.list_dag_runs()}
        for dag in client.list_dags():
            latest = runs.get(dag.dag_id)
            print(f"{dag.dag_id:<30} {latest.run_id if latest else '-':<45} {latest.state if latest else '-'}")
        if not args.once:
            print("\nAirflow UI is up; press Ctrl-C to stop.", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping Airflow ...", flush=True)
        airflow.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
