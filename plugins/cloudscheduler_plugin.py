"""Entry point Airflow discovers in the plugins folder; the plugin itself lives in the cloudscheduler package."""

from cloudscheduler.plugin import CloudSchedulerPlugin

__all__ = ["CloudSchedulerPlugin"]
