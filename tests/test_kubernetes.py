"""deploy/kubernetes/ is valid against the Kubernetes schemas and agrees with the image it runs.

No cluster runs here, so the manifests are checked against the JSON schemas that kubernetes-validate
ships (offline, strict: an unknown field fails), and every value that must match the Dockerfile or the
server (ports, user, probe command, environment names, drain grace) is compared with its source.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as kv

from speechsense.server.app import SERVICE_NAME
from speechsense.server.config import ServerOptions
from speechsense.server.main import build_parser

REPO = Path(__file__).resolve().parent.parent
FOLDER = REPO / "deploy" / "kubernetes"
# The oldest Kubernetes these files are written for (native gRPC probes, the preStop sleep action) and the
# newest the installed schemas know.
VERSIONS = ("1.30.0", kv.latest_version())


def manifests() -> dict[str, dict]:
    """kind -> resource, from every YAML file in the folder."""
    docs = [d for f in sorted(FOLDER.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {d["kind"]: d for d in docs}
    assert len(kinds) == len(docs), "one resource of each kind is expected"
    return kinds


def dockerfile() -> dict:
    """USER, EXPOSE, ENV and the HEALTHCHECK command of the image, with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    runtime = text.split("\nFROM ")[-1]  # the last stage is the image that runs
    env = dict(re.findall(r"(\w+)=(\S+)", re.search(r"^ENV (.*)$", runtime, re.M).group(1)))
    health = re.search(r"^HEALTHCHECK (.*?) CMD (.*)$", runtime, re.M)
    command = health.group(2).split("||")[0].strip()
    for name, value in env.items():
        command = command.replace(f"${{{name}}}", value)
    return {"user": re.search(r"^USER (\S+)$", runtime, re.M).group(1),
            "expose": {int(p) for p in re.search(r"^EXPOSE (.*)$", runtime, re.M).group(1).split()},
            "env": env, "health_command": shlex.split(command),
            "start_period": int(re.search(r"--start-period=(\d+)s", health.group(1)).group(1))}


def pod() -> dict:
    return manifests()["Deployment"]["spec"]["template"]


def server_container() -> dict:
    (container,) = pod()["spec"]["containers"]
    return container


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                                  "Ingress"])
def test_each_resource_is_valid_against_the_schemas(kind, version):
    assert kv.validate(manifests()[kind], version, strict=True)


def test_the_schema_check_rejects_a_wrong_field():
    """Guards the check itself: a misspelt field must fail, or the test above proves nothing."""
    bad = copy.deepcopy(manifests()["Deployment"])
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {"port": 50051}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, VERSIONS[-1], strict=True)


def test_ports_agree_with_the_image():
    image = dockerfile()
    ports = {p["name"]: p["containerPort"] for p in server_container()["ports"]}
    assert ports == {"grpc": int(image["env"]["SPEECHSENSE_PORT"]),
                     "metrics": int(image["env"]["SPEECHSENSE_METRICS_PORT"]),
                     "web": int(image["env"]["SPEECHSENSE_WEB_PORT"])}
    assert set(ports.values()) == image["expose"]
    assert int(pod()["metadata"]["annotations"]["prometheus.io/port"]) == ports["metrics"]
    service = manifests()["Service"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    backend = manifests()["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "grpc"}}


def test_the_pod_runs_as_the_image_user():
    user, group = dockerfile()["user"].split(":")
    security = pod()["spec"]["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["runAsNonRoot"]) == (int(user), int(group), True)


def test_probes_ask_what_the_image_healthcheck_asks():
    image, container = dockerfile(), server_container()
    grpc_port = int(image["env"]["SPEECHSENSE_PORT"])
    startup = container["startupProbe"]
    assert startup["exec"]["command"] == image["health_command"]
    assert image["health_command"][:3] == ["python", "-m", "speechsense.server.probe"]
    assert importlib.util.find_spec("speechsense.server.probe") is not None
    assert startup["periodSeconds"] * startup["failureThreshold"] >= image["start_period"]
    assert container["readinessProbe"]["grpc"] == {"port": grpc_port, "service": SERVICE_NAME}
    assert container["livenessProbe"]["grpc"] == {"port": grpc_port}  # health service "": the server as a whole


def test_termination_grace_covers_the_pause_and_the_drain():
    container, spec = server_container(), pod()["spec"]
    env = {e["name"]: e["value"] for e in container["env"]}
    drain = float(env.get("SPEECHSENSE_GRACE_SECONDS", ServerOptions.__dataclass_fields__["grace_seconds"].default))
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pause + drain


def test_environment_names_are_the_servers_and_threads_match_the_cpu_request():
    known = set(re.findall(r"\[(SPEECHSENSE_\w+)\]", build_parser().format_help()))
    env = {e["name"]: e["value"] for e in server_container()["env"]}
    assert set(env) <= known, f"not server settings: {set(env) - known}"
    assert int(env["SPEECHSENSE_INTRA_OP_THREADS"]) == int(server_container()["resources"]["requests"]["cpu"])


def test_autoscaler_and_budget_point_at_the_deployment():
    kinds = manifests()
    deployment = kinds["Deployment"]
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    target = kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    labels = pod()["metadata"]["labels"]
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert kinds["Service"]["spec"]["selector"] == labels
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert kinds["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2  # the budget can then always act
