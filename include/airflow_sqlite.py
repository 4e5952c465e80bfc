"""Connection arguments for Airflow's own SQLite database in the embedded default.

Referenced by ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS``: a 60 s busy timeout rides out the write
bursts of parallel tasks instead of crashing components with "database is locked".
"""

CONNECT_ARGS = {"timeout": 60}
