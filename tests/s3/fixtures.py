"""Shared S3 fixtures: a real S3 API (moto's threaded server on 127.0.0.1) behind Django storage.

Use in any context's tests::

    from tests.s3.fixtures import moto_s3_server, s3_storage  # noqa: F401  (pytest fixtures)

    @pytest.mark.s3
    def test_something(s3_storage):
        ...  # default_storage is now django-storages' S3Storage on a fresh bucket

``s3_storage`` yields a boto3 client for direct checks (``list_objects_v2`` on ``s3_storage.bucket``).
"""

from __future__ import annotations

import uuid

import pytest

ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # moto accepts any key
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_s3_server():
    """One moto server for the session on a free port of 127.0.0.1; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # pragma: no cover - moto is a dev dependency
        pytest.skip("moto is not installed")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class _Bucket:
    def __init__(self, client, bucket: str, endpoint: str):
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint

    def keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)


@pytest.fixture
def s3_storage(moto_s3_server, settings):
    """Default storage switched to S3Storage on a fresh bucket of the moto server."""
    import boto3

    bucket = f"spheroseg-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_s3_server, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name=REGION)
    client.create_bucket(Bucket=bucket)
    settings.S3_BUCKET = bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": moto_s3_server,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "region_name": REGION,
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
            },
        },
    }
    yield _Bucket(client, bucket, moto_s3_server)
