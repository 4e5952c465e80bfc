"""Building adapters from cloud rows: the Airflow Connection is read at run time only, secrets never
show in reprs or errors, and the rate limit comes from the row or the settings."""

from __future__ import annotations

import json

import pytest

from include.config.settings import Settings
from include.providers.base import AuthError, ProviderError
from include.providers.factory import ConnectionSecrets, openstack_credentials, rate_bucket
from include.store.models import Cloud


def os_cloud(**kw) -> Cloud:
    values = {
        "group_name": "g1",
        "name": "c1",
        "cloud_type": "openstack",
        "project": "htc",
        "connection_id": "os_c1",
        "rate_per_second": None,
        "rate_burst": None,
        "ca_bundle": None,
        **kw,
    }
    return Cloud(**values)


def test_the_row_scopes_the_credentials_but_the_connection_says_where_they_go():
    secrets = ConnectionSecrets(
        host="https://conn/v3",
        login="u",
        password="p4ss-word",
        extra={"project_name": "other", "region_name": "R2"},
    )
    creds = openstack_credentials(os_cloud(auth_url=None, region="R1"), secrets)
    assert (creds.auth_url, creds.project_name, creds.region_name, creds.username) == (
        "https://conn/v3",
        "htc",
        "R1",
        "u",
    )
    assert openstack_credentials(os_cloud(auth_url="https://conn/v3/"), secrets).auth_url == "https://conn/v3"
    assert "p4ss-word" not in repr(creds) and "p4ss-word" not in repr(secrets)


def test_a_row_pointing_the_credentials_elsewhere_is_refused():
    secrets = ConnectionSecrets(host="https://conn/v3", login="u", password="p4ss-word")
    with pytest.raises(ProviderError, match="field 'auth_url': the cloud says 'https://evil/v3'") as info:
        openstack_credentials(os_cloud(auth_url="https://evil/v3"), secrets)
    assert "p4ss-word" not in str(info.value)


def test_rate_bucket_defaults_and_overrides():
    assert (rate_bucket(os_cloud(), Settings()).rate, rate_bucket(os_cloud(), Settings()).burst) == (2.0, 20)
    bucket = rate_bucket(os_cloud(rate_per_second=7.5, rate_burst=3), Settings())
    assert (bucket.rate, bucket.burst) == (7.5, 3)


def test_connect_reads_the_airflow_connection(monkeypatch, fake_openstack):
    from include.clouds import connect

    conn = {"conn_type": "generic", "host": fake_openstack.auth_url, "login": "u", "password": "pw"}
    monkeypatch.setenv("AIRFLOW_CONN_OS_C1", json.dumps(conn))
    adapter = connect(os_cloud(), Settings())
    assert adapter.name == "c1" and adapter.limits().instances_max == -1

    monkeypatch.setenv("AIRFLOW_CONN_OS_C1", json.dumps({**conn, "password": "wrong-pw"}))
    with pytest.raises(AuthError) as info:
        connect(os_cloud(), Settings()).list_vms()
    assert "wrong-pw" not in str(info.value)


def test_missing_connection_names_the_cloud():
    from include.clouds import connect

    with pytest.raises(ProviderError, match="cloud c1: Airflow connection 'os_missing' is not defined"):
        connect(os_cloud(connection_id="os_missing"), Settings())


def test_amazon_connection_builds_ec2(monkeypatch):
    from include.clouds import connect

    monkeypatch.setenv("AIRFLOW_CONN_AWS_C2", "aws://AKIAEXAMPLE:se%2Fcret@/?region_name=eu-west-1")
    adapter = connect(
        os_cloud(name="c2", cloud_type="amazon", connection_id="aws_c2", project=None), Settings()
    )
    assert adapter.creds.region_name == "eu-west-1" and adapter.creds.secret_access_key == "se/cret"
    assert "se/cret" not in repr(adapter.creds)


def test_simulated_needs_no_connection(sqlite_engine):
    from include.clouds import connect

    adapter = connect(
        os_cloud(cloud_type="simulated", simulation={"boot_delay_s": 1}), Settings(), engine=sqlite_engine
    )
    assert adapter.list_vms() == []


def test_worker_secrets_come_from_the_groups_pool_connection(monkeypatch):
    from include.airflow_glue import worker_secrets

    assert worker_secrets("atlas") == {}, "no connection: no secret variables"
    conn = {"conn_type": "generic", "password": "eyJhbGciOi.token", "extra": {"condorworker_cert": "CERT"}}
    monkeypatch.setenv("AIRFLOW_CONN_CS_CONDOR_ATLAS", json.dumps(conn))
    assert worker_secrets("atlas") == {"cs_condor_token": "eyJhbGciOi.token", "cs_condorworker_cert": "CERT"}
    assert worker_secrets("belle2") == {}


def test_the_connection_sets_the_http_timeout_and_a_bad_one_names_the_field():
    secrets = ConnectionSecrets(host="https://k/v3", login="u", password="p", extra={"timeout": "7.5"})
    assert openstack_credentials(os_cloud(), secrets).timeout_s == 7.5
    assert openstack_credentials(os_cloud(), ConnectionSecrets(host="https://k/v3")).timeout_s == 60.0
    with pytest.raises(ProviderError, match="cloud c1: connection extra 'timeout': 'soon'"):
        openstack_credentials(os_cloud(), ConnectionSecrets(host="https://k/v3", extra={"timeout": "soon"}))
