"""cloudscheduler: everything that is not Airflow wiring lives under this package."""
