"""Health probe: exit 0 once the server's gRPC health service says SERVING (scripts, container HEALTHCHECK)."""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def is_serving(address: str, timeout: float = 2.0, service: str = "") -> bool:
    """Whether the health entry of `service` says SERVING ("": the server as a whole)."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                               timeout=timeout)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--address", default="127.0.0.1:50051", help="host:port of the server")
    p.add_argument("--wait", type=float, default=0.0, help="keep asking for up to this many seconds")
    args = p.parse_args()
    deadline = time.monotonic() + args.wait
    while not is_serving(args.address):
        if time.monotonic() >= deadline:
            sys.exit(f"{args.address} is not serving")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
