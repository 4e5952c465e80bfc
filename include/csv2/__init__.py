"""Moving a site from cloudscheduler v2: read its MariaDB database and write our configuration (YAML for
review), the Airflow Connections its plain-text cloud secrets become, and a report of everything that
was mapped, dropped (with why) or will not render."""
