"""The peer: how such a proxy is commonly written — a FastAPI route calling sync boto3,
with a new client for every request."""

import os
from typing import Any

import boto3
from fastapi import FastAPI

ENDPOINT = os.environ["BENCH_UPSTREAM"]
app = FastAPI()


@app.get("/v1/deployments/{deployment_id}/instances/{instance_id}")
def get_deployment_instance(deployment_id: str, instance_id: str) -> Any:
    client = boto3.client(
        "codedeploy",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    reply = client.get_deployment_instance(deploymentId=deployment_id, instanceId=instance_id)
    return {"instanceSummary": reply["instanceSummary"]}
