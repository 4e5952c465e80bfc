# The Airflow image with cloudscheduler's pinned dependencies. The project itself is mounted at
# /opt/cloudscheduler by docker-compose.yaml and put on PYTHONPATH, so a code change needs no rebuild.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt constraints.txt /tmp/cs/
RUN pip install --no-cache-dir -r /tmp/cs/requirements.txt -c /tmp/cs/constraints.txt
