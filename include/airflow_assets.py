"""The Assets the pollers update and the scheduling DAG listens to (data-aware scheduling)."""

from airflow.sdk import Asset

CONDOR_STATE = Asset("cloudscheduler://state/condor")
CLOUD_STATE = Asset("cloudscheduler://state/clouds")
