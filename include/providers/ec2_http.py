"""The EC2 adapter's transport: a boto3 client from explicit keys (never the environment or ~/.aws),
botocore's own retries off (ours are bounded, jittered and do not retry capacity errors, which
botocore would: InsufficientInstanceCapacity is a 500), pacing, and error translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from include.providers.base import AuthError, CapacityError, ProviderError, QuotaError, TransientError
from include.providers.ratelimit import Unlimited, retry_transient

CAPACITY = {
    "InsufficientInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientCapacity",
    "InsufficientReservedInstanceCapacity",
    "SpotMaxPriceTooLow",
    "InsufficientCapacityOnHost",
}
QUOTA = {
    "VcpuLimitExceeded",
    "InstanceLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "InsufficientFreeAddressesInSubnet",
    "VolumeLimitExceeded",
    "ResourceLimitExceeded",
}
AUTH = {
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "RequestExpired",
    "OptInRequired",
    "Blocked",
    "InvalidAccessKeyId",
}
THROTTLE = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
    "Unavailable",
    "SlowDown",
    "TooManyRequestsException",
}
SERVER = {"InternalError", "InternalFailure", "ServerInternal"}


@dataclass(frozen=True)
class Ec2Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region_name: str = "us-east-1"
    endpoint_url: str | None = None  # set for moto or a private endpoint
    session_token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None


def make_client(creds: Ec2Credentials, service: str = "ec2"):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name=creds.region_name,
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=16,
    )
    return session.client(
        service, endpoint_url=creds.endpoint_url, config=config, verify=creds.ca_bundle or True
    )


def map_error(cloud: str, err: Exception) -> ProviderError:
    from botocore import exceptions as bx

    if isinstance(err, bx.ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{code}: {err.response.get('Error', {}).get('Message', '')}"[:300]
        if code in CAPACITY:
            return CapacityError(cloud, text)
        if code in QUOTA:
            return QuotaError(cloud, text)
        if code in AUTH or status == 401:
            return AuthError(cloud, text)
        if code in THROTTLE or code in SERVER or status >= 500:
            error = TransientError(cloud, text)
            error.throttled = code in THROTTLE or status == 503
            return error
        return ProviderError(cloud, text)
    if isinstance(err, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AuthError(cloud, "no usable credentials")
    if isinstance(err, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return TransientError(cloud, f"cannot reach the cloud: {type(err).__name__}")
    if isinstance(err, bx.ConnectionClosedError | bx.ReadTimeoutError):
        error = TransientError(cloud, f"no answer from the cloud: {type(err).__name__}")
        error.maybe_acted = True  # the request went out: EC2 may have carried it out
        return error
    return ProviderError(cloud, f"{type(err).__name__}: {err}"[:300])


class Ec2Session:
    """Calls on one EC2 client, paced by ``bucket`` and retried on throttling and 5xx. RunInstances goes
    through ``call_once``: the adapter retries it itself, looking for the instance first."""

    def __init__(self, cloud: str, client, bucket=None, attempts: int = 4):
        self.cloud, self.client = cloud, client
        self.bucket = bucket or Unlimited()
        self.attempts = attempts

    def call(self, operation: str, **params):
        return retry_transient(lambda: self.call_once(operation, **params), attempts=self.attempts)

    def call_once(self, operation: str, **params):
        """One paced call, its error translated; the caller decides whether to try again."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.bucket.acquire()
        try:
            return getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError) as err:
            raise map_error(self.cloud, err) from None

    def pages(self, operation: str, key: str, **params):
        """All pages of a describe, each page paced and retried on its own."""
        token = None
        while True:
            page = self.call(operation, **params, **({"NextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("NextToken")
            if not token:
                return
