"""Checks of infra/: the Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate,
offline, strict) plus the conventions the runner relies on, and a structural check of the Dockerfile
(no Docker engine here to build it). Cross-checks every OFTSR_* variable against the runner's config
schema and its README table."""

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
CONFIG_TS = ROOT / "apps" / "gpu-runner" / "src" / "config.ts"
RUNNER_README = ROOT / "apps" / "gpu-runner" / "README.md"
K8S_VERSION = "1.30.0"


def documents():
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def by_kind(kind):
    found = [doc for _, doc in documents() if doc["kind"] == kind]
    assert found, f"no {kind} in infra/k8s"
    return found[0]


def config_variables():
    return set(re.findall(r"^\s+(OFTSR_[A-Z0-9_]+):", CONFIG_TS.read_text(), re.M))


@pytest.mark.parametrize("name,doc", list(documents()), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifest_matches_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_deployment_requests_a_gpu_and_probes_v2_health():
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    (runner,) = pod["containers"]
    assert runner["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert runner["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert runner["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert runner["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_grace_period_outlasts_the_drain():
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    (runner,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in runner["env"]}
    drain_s = int(env["OFTSR_DRAIN_TIMEOUT_MS"]) / 1000
    pre_stop = runner["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > drain_s + pre_stop


def test_service_and_autoscaler_point_at_the_runner():
    labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = by_kind("Service")["spec"]["selector"]
    assert selector.items() <= labels.items()
    hpa = by_kind("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == by_kind("Deployment")["metadata"]["name"]
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "oftsr_queue_depth"


def test_every_oftsr_variable_exists_and_is_documented():
    known = config_variables()
    assert len(known) > 20
    readme = RUNNER_README.read_text()
    for var in sorted(known):
        assert f"`{var}`" in readme, f"{var} is missing from the table in apps/gpu-runner/README.md"
    used = set(re.findall(r"OFTSR_[A-Z0-9_]+", DOCKERFILE.read_text()))
    used |= {e["name"] for e in by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {v for v in used if v.startswith("OFTSR_")} <= known


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_structure():
    ins = dockerfile_instructions()
    known = {"FROM", "ARG", "WORKDIR", "COPY", "RUN", "ENV", "USER", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT", "CMD"}
    assert {i for i, _ in ins} <= known
    args = {a.split("=")[0]: a.split("=", 1)[1] for i, a in ins if i == "ARG" and "=" in a}
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) == 2
    for image in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image.split()[0])
        assert ":" in resolved and not resolved.endswith(":latest"), f"unpinned base image {resolved}"
    assert "cuda" in args["CUDA_IMAGE"] and "cudnn" in args["CUDA_IMAGE"]
    runs = " ".join(a for i, a in ins if i == "RUN")
    assert "ONNXRUNTIME_NODE_INSTALL=cuda12" in runs and "libonnxruntime_providers_cuda.so" in runs
    # The final stage runs as a non-root user, checks readiness, and starts the runner.
    final = ins[max(k for k, (i, _) in enumerate(ins) if i == "FROM"):]
    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    health = [a for i, a in final if i == "HEALTHCHECK"]
    assert health and "/v2/health/ready" in health[0]
    assert any(i == "ENTRYPOINT" and "apps/gpu-runner/src/index.ts" in a for i, a in final)
    # Everything the build copies from the repository exists.
    for instruction, a in ins:
        if instruction == "COPY" and "--from" not in a:
            for src in a.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY source {src} does not exist"


def test_cache_bucket_lifecycle_expires_unreachable_outputs():
    """Outputs keyed by an old source version or model are never read again; the cache bucket's
    lifecycle rule (set with `wrangler r2 bucket lifecycle set`) removes them by age."""
    import json

    policy = json.loads((ROOT / "infra" / "r2" / "cache-lifecycle.json").read_text())
    rules = {rule["conditions"]["prefix"]: rule for rule in policy["rules"]}
    for prefix in ("out/", "src/", "pending/", "failed/"):
        rule = rules[prefix]
        assert rule["enabled"] is True
        condition = rule["deleteObjectsTransition"]["condition"]
        assert condition["type"] == "Age" and condition["maxAge"] >= 86400
    # The edge writes outputs, source records, work markers and failure records under these prefixes.
    cache_ts = (ROOT / "apps" / "edge" / "src" / "cache.ts").read_text()
    freshness_ts = (ROOT / "apps" / "edge" / "src" / "freshness.ts").read_text()
    work_ts = (ROOT / "apps" / "edge" / "src" / "work.ts").read_text()
    assert "`out/v1/" in cache_ts and "`src/v1/" in freshness_ts
    assert "`pending/v1/" in work_ts and "`failed/v1/" in work_ts
    assert rules[""]["abortMultipartUploadsTransition"]["condition"]["maxAge"] == 86400
