"""Kubernetes base job templates, rendered offline by prefect-kubernetes's own worker code.

Every template in deploy/k8s/ goes through `KubernetesWorkerJobConfiguration`'s
`from_template_and_values` and `prepare_for_flow_run` (what a Kubernetes worker does for each
flow run) with the job variables of every Kubernetes deployment in deploy/prefect.yaml; the
manifest must carry the GPU limit, the cache volume mounts and the environment, and deserialize
as a Kubernetes V1Job.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient
from prefect.client.schemas.objects import FlowRun
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((REPO / "deploy" / "k8s").glob("*.json"))
DEPLOYMENTS = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text())["deployments"]
K8S_DEPLOYMENTS = [
    d for d in DEPLOYMENTS if (REPO / "deploy/k8s" / f"{d['work_pool']['name']}.json").is_file()
]
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


def _render(template: dict, values: dict) -> dict:
    config = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(template, values, client=_NoApi())
    )
    flow_run = FlowRun(id=uuid.uuid4(), name="brave-otter", flow_id=uuid.uuid4())
    config.prepare_for_flow_run(flow_run)
    return config.job_manifest


def _container(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]["containers"][0]


def _env(manifest: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in _container(manifest)["env"]}


def _as_v1job(manifest: dict):
    """Deserialize like the Kubernetes client does a server reply: types and names are checked."""

    class _Reply:
        data = json.dumps(manifest)

    async def deserialize():  # the asyncio client wants a running loop
        async with ApiClient() as client:
            return client.deserialize(_Reply(), "V1Job")

    return asyncio.run(deserialize())


def test_every_kubernetes_pool_has_a_template():
    assert len(TEMPLATES) >= 2
    assert {d["work_pool"]["name"] for d in K8S_DEPLOYMENTS} == {p.stem for p in TEMPLATES}


@pytest.mark.parametrize("template_path", TEMPLATES, ids=lambda p: p.stem)
@pytest.mark.parametrize("deployment", K8S_DEPLOYMENTS, ids=lambda d: d["name"])
def test_template_renders_for_deployment(template_path: Path, deployment: dict):
    template = json.loads(template_path.read_text())
    values = dict(deployment["work_pool"].get("job_variables") or {})
    values["env"] = {"MLFLOW_TRACKING_URI": "http://mlflow.realign:5000"}
    manifest = _render(template, values)

    job = _as_v1job(manifest)
    pod = job.spec.template.spec
    container = pod.containers[0]
    assert container.image == values["image"]
    assert container.resources.limits["nvidia.com/gpu"] == str(values["gpu_count"])
    assert container.args[:3] == ["prefect", "flow-run", "execute"]
    env = _env(manifest)
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.realign:5000"
    assert {k: env[k] for k in CACHE_ENV} == CACHE_ENV
    assert "PREFECT__FLOW_RUN_ID" in env
    # one claim, named by the job variable, mounted for models, artifacts and the DVC cache
    defaults = template["variables"]["properties"]
    claims = [
        v.persistent_volume_claim.claim_name for v in pod.volumes if v.persistent_volume_claim
    ]
    assert claims == [defaults["cache_pvc"]["default"]]
    repo_dir = defaults["repo_dir"]["default"]
    mounts = {m.mount_path: (m.name, m.sub_path) for m in container.volume_mounts}
    cache_volume = next(v.name for v in pod.volumes if v.persistent_volume_claim)
    assert mounts["/cache"] == (cache_volume, None)
    assert mounts[f"{repo_dir}/artifacts"][0] == cache_volume
    assert mounts[f"{repo_dir}/.dvc/cache"][0] == cache_volume
    shm = next(v for v in pod.volumes if v.empty_dir)
    assert shm.empty_dir.medium == "Memory" and mounts["/dev/shm"][0] == shm.name
    assert any(t.key == "nvidia.com/gpu" for t in pod.tolerations)
    assert manifest["spec"]["backoffLimit"] == 0  # an evicted pod's run is rescheduled, resumes


def test_job_variables_override_gpu_volume_scheduling_and_cache_env():
    template = json.loads((REPO / "deploy/k8s/gpu-cluster.json").read_text())
    manifest = _render(
        template,
        {
            "gpu_count": 4,
            "cache_pvc": "team-cache",
            "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "tolerations": [],
            "shm_size": "32Gi",
            "env": {"HF_HOME": "/cache/hf-shared"},
        },
    )
    pod = manifest["spec"]["template"]["spec"]
    assert _container(manifest)["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == []
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["team-cache"]
    assert next(v for v in pod["volumes"] if "emptyDir" in v)["emptyDir"]["sizeLimit"] == "32Gi"
    env = [e["name"] for e in _container(manifest)["env"]]
    assert env.count("HF_HOME") == 1 and _env(manifest)["HF_HOME"] == "/cache/hf-shared"


def test_cache_claim_manifest_matches_the_templates_default():
    claim = yaml.safe_load((REPO / "deploy/k8s/cache-pvc.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim"
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for path in TEMPLATES:
        props = json.loads(path.read_text())["variables"]["properties"]
        assert props["cache_pvc"]["default"] == claim["metadata"]["name"]
        assert props["namespace"]["default"] == claim["metadata"]["namespace"]
