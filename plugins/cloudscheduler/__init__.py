"""The cloudscheduler Airflow plugin: status, plots, configuration pages and the Shoal HTTP API.

It reads and writes our state database only; it never calls a cloud or the pool. Buttons record
intents that the next scheduling run carries out.
"""
