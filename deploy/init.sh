#!/bin/bash
# The compose init service: migrate Airflow's database and ours, create the admin user and the Airflow
# pools every task names (a task in a missing pool would wait forever). Safe to run again on upgrade.
set -euo pipefail
airflow db migrate
python -m include.cli.main db upgrade
airflow users create --role Admin --username "${AIRFLOW_ADMIN_USER}" --password "${AIRFLOW_ADMIN_PASSWORD}" \
  --firstname Cloud --lastname Scheduler --email "${AIRFLOW_ADMIN_USER}@localhost" || true
python -m include.airflow_setup
