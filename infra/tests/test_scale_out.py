"""Checks of infra/scale-out/: the KEDA ScaledObject agrees with the Deployment and with the HPA it
replaces (same target, signal, bounds and behaviour), and the Cloudflare Queue pull-consumer config
stays within the limits Cloudflare documents and outlasts the runner's longest job. KEDA's CRD
schema is not bundled with kubernetes-validate, so the ScaledObject is checked structurally; its
embedded HPA behaviour is validated against the Kubernetes schema."""

import re
import tomllib
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCALE_OUT = ROOT / "infra" / "scale-out"
K8S = ROOT / "infra" / "k8s"
CONFIG_TS = ROOT / "apps" / "gpu-runner" / "src" / "config.ts"

# Cloudflare Queues limits (developers.cloudflare.com/queues/platform/limits, at the time of writing).
MAX_VISIBILITY_TIMEOUT_MS = 12 * 3600 * 1000
MAX_RETRIES = 100


def load(path):
    return yaml.safe_load(path.read_text())


def scaled_object():
    return load(SCALE_OUT / "keda-scaledobject.yaml")


def test_scaled_object_targets_the_runner_deployment():
    so = scaled_object()
    assert so["apiVersion"] == "keda.sh/v1alpha1" and so["kind"] == "ScaledObject"
    deployment = load(K8S / "deployment.yaml")
    target = so["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )


def test_scaled_object_matches_the_hpa_it_replaces():
    so = scaled_object()["spec"]
    hpa = load(K8S / "hpa.yaml")["spec"]
    assert so["minReplicaCount"] == hpa["minReplicas"]
    assert so["maxReplicaCount"] == hpa["maxReplicas"]
    (trigger,) = so["triggers"]
    assert trigger["type"] == "prometheus"
    assert "oftsr_queue_depth" in trigger["metadata"]["query"]
    assert trigger["metadata"]["threshold"] == hpa["metrics"][0]["pods"]["target"]["averageValue"]
    assert so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == hpa["behavior"]


def test_scaled_object_behaviour_is_valid_hpa_behaviour():
    behaviour = scaled_object()["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa = load(K8S / "hpa.yaml")
    hpa["spec"]["behavior"] = behaviour
    kubernetes_validate.validate(hpa, "1.30.0", strict=True)


def test_queue_pull_consumer_within_documented_limits():
    config = tomllib.loads((SCALE_OUT / "queues.wrangler.toml").read_text())
    (consumer,) = config["queues"]["consumers"]
    (producer,) = config["queues"]["producers"]
    assert consumer["type"] == "http_pull"
    assert consumer["queue"] == producer["queue"]
    assert consumer["dead_letter_queue"] not in (consumer["queue"], "")
    assert 0 < consumer["max_retries"] <= MAX_RETRIES
    assert consumer["visibility_timeout_ms"] <= MAX_VISIBILITY_TIMEOUT_MS
    # A message must stay invisible for longer than the runner may spend on it.
    default_max_deadline = int(
        re.search(r"OFTSR_MAX_DEADLINE_MS:[^\n]*\.default\(([\d_]+)\)", CONFIG_TS.read_text()).group(1).replace("_", "")
    )
    assert consumer["visibility_timeout_ms"] > default_max_deadline
