"""docs/kubernetes.yaml against the restricted Pod Security profile (every rule of it that a Pod spec can break,
as the Kubernetes documentation lists them) and against the image's contract (its user, ports, health check)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from imgbuild.core.reference import ImageRef
from imgbuild.render.dockerfile import UID, USER

MANIFEST = Path(__file__).resolve().parents[1] / "docs" / "kubernetes.yaml"
# The restricted profile's volume types: anything else (hostPath above all) is refused at admission.
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                   "secret"}


def documents():
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc}


@pytest.fixture
def pod():
    return documents()["Deployment"]["spec"]["template"]["spec"]


def test_the_pod_passes_the_restricted_profile(pod):
    for forbidden in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        assert not pod.get(forbidden), forbidden
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
    assert not pod["securityContext"].get("sysctls")
    for volume in pod["volumes"]:
        kinds = set(volume) - {"name"}
        assert kinds <= ALLOWED_VOLUMES, volume
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and not context.get("privileged")
        assert "ALL" in context["capabilities"]["drop"]
        assert set(context["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}
        assert context.get("runAsUser", 1) != 0 and context.get("procMount", "Default") == "Default"
        assert context["readOnlyRootFilesystem"] is True  # beyond the profile: what the image promises to survive
        assert not any("hostPort" in port for port in container["ports"])


def test_the_pod_meets_the_image_contract(pod):
    container = pod["containers"][0]
    env = {item["name"]: item for item in container["env"]}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"jupyter": int(env["JUPYTER_PORT"]["value"]), "ssh": int(env["SSH_PORT"]["value"])}
    assert min(ports.values()) > 1024  # no capability to bind a low port
    assert pod["securityContext"]["runAsUser"] == UID
    for secret in ("JUPYTER_TOKEN", "SSH_AUTHORIZED_KEYS"):
        assert "secretKeyRef" in env[secret]["valueFrom"] and "value" not in env[secret], secret
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["/usr/local/bin/imgbuild-healthcheck"]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # the read-only root's one writable place
    for path in ("/workspace/data", "/workspace/checkpoints", f"/home/{USER}"):
        assert "persistentVolumeClaim" in volumes[mounts[path]["name"]], path
    assert ImageRef.parse(container["image"]).tag.endswith("-runtime-2026-12-04")  # a dated, immutable tag


def test_the_service_reaches_the_named_ports():
    docs = documents()
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    names = {port["name"] for port in container["ports"]}
    assert {port["targetPort"] for port in docs["Service"]["spec"]["ports"]} == names
    assert docs["Service"]["spec"]["type"] == "ClusterIP"
    assert docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
