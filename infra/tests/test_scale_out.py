"""Checks of the scale-out configuration: the KEDA ScaledObject agrees with the Deployment and with
the HPA it replaces (same target, signal, bounds and behaviour) and queries a metric the runner
really exports; the edge's work queue (root wrangler.toml) has, in every environment, its producer
binding, a consumer with retries within Cloudflare's documented limits, a dead-letter queue named as
the consumer code expects (`<queue>-dlq`) and a consumer for it. KEDA's CRD schema is not bundled
with kubernetes-validate, so the ScaledObject is checked structurally; its embedded HPA behaviour is
validated against the Kubernetes schema."""

import re
import tomllib
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCALE_OUT = ROOT / "infra" / "scale-out"
K8S = ROOT / "infra" / "k8s"
METRICS_TS = ROOT / "apps" / "gpu-runner" / "src" / "metrics.ts"
CONSUMER_TS = ROOT / "apps" / "edge" / "src" / "consumer.ts"
WRANGLER = ROOT / "wrangler.toml"

# Cloudflare Queues limits (developers.cloudflare.com/queues/platform/limits, at the time of writing).
MAX_RETRIES = 100
MAX_BATCH_SIZE = 100
MAX_RETRY_DELAY_S = 43_200


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


def test_scaled_object_reads_metrics_the_runner_exports():
    """Every oftsr_* series the trigger queries is registered in the runner's metrics.ts, and the
    Deployment's pods are scraped on the port and path that serve it."""
    (trigger,) = scaled_object()["spec"]["triggers"]
    queried = set(re.findall(r"\b(oftsr_[a-z_]+)\b", trigger["metadata"]["query"]))
    exported = set(re.findall(r"name: '(oftsr_[a-z_]+)'", METRICS_TS.read_text()))
    assert queried and queried <= exported, (queried, exported)
    annotations = load(K8S / "deployment.yaml")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_scaled_object_behaviour_is_valid_hpa_behaviour():
    behaviour = scaled_object()["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa = load(K8S / "hpa.yaml")
    hpa["spec"]["behavior"] = behaviour
    kubernetes_validate.validate(hpa, "1.30.0", strict=True)


def environments():
    config = tomllib.loads(WRANGLER.read_text())
    yield "top level", config
    for name, env in config["env"].items():
        yield name, env


def test_every_environment_has_the_work_queue_and_its_dead_letter_queue():
    suffix = re.search(r"DEAD_LETTER_SUFFIX = '([^']+)'", CONSUMER_TS.read_text()).group(1)
    for name, env in environments():
        (producer,) = env["queues"]["producers"]
        assert producer["binding"] == "WORK_QUEUE", name
        consumers = {c["queue"]: c for c in env["queues"]["consumers"]}
        work = consumers[producer["queue"]]
        assert work["dead_letter_queue"] == producer["queue"] + suffix, name
        assert work["dead_letter_queue"] in consumers, f"{name}: nobody consumes the dead-letter queue"
        assert "dead_letter_queue" not in consumers[work["dead_letter_queue"]], name
        assert 0 < work["max_retries"] <= MAX_RETRIES, name
        assert 0 <= work["retry_delay"] <= MAX_RETRY_DELAY_S, name
        # One upscale per invocation: a batch would hold finished work hostage to the slowest image.
        assert work["max_batch_size"] == 1, name
        assert consumers[work["dead_letter_queue"]]["max_batch_size"] <= MAX_BATCH_SIZE, name
        assert {"EDGE_WAIT_MS", "WORK_RETRY_BASE_S"} <= set(env["vars"]), name
