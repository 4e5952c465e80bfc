# The Airflow image with cloudscheduler's pinned dependencies. The project itself is mounted at
# /opt/cloudscheduler by docker-compose.yaml and put on PYTHONPATH, so a code change needs no rebuild.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt requirements-libvirt.txt constraints.txt /tmp/cs/
RUN pip install --no-cache-dir -r /tmp/cs/requirements.txt -c /tmp/cs/constraints.txt
# Clouds of type libvirt (hypervisor farms): the bindings build against Debian's libvirt, and qemu+ssh
# URIs need an ssh client. Build with --build-arg LIBVIRT=1.
ARG LIBVIRT=0
USER root
RUN if [ "$LIBVIRT" = "1" ]; then apt-get update -qq \
      && apt-get install -y -qq --no-install-recommends libvirt-dev pkg-config gcc openssh-client \
      && rm -rf /var/lib/apt/lists/*; fi
USER airflow
RUN if [ "$LIBVIRT" = "1" ]; then pip install --no-cache-dir -r /tmp/cs/requirements-libvirt.txt; fi
