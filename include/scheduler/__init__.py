"""The planner: pure functions from a snapshot of the pool and the clouds to a plan. No I/O, no Airflow."""
