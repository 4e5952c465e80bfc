#!/bin/bash
# Runs once, when the PostgreSQL volume is first created: our own state database beside Airflow's.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE cloudscheduler LOGIN PASSWORD '${CS_DB_PASSWORD}';
CREATE DATABASE cloudscheduler OWNER cloudscheduler;
SQL
