"""deploy/kubernetes: valid against the Kubernetes API schemas (offline), and wired together."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.settings import Settings
from tests.support import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30"  # the oldest release the manifests must work on
Manifest = dict[str, Any]


def load(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


@pytest.fixture(scope="module")
def resources() -> dict[str, Manifest]:
    """The kustomization's resources by kind."""
    kustomization = load(DEPLOY / "kustomization.yaml")[0]
    manifests = [m for name in kustomization["resources"] for m in load(DEPLOY / name)]
    return {manifest["kind"]: manifest for manifest in manifests}


@pytest.fixture(scope="module")
def pod(resources: dict[str, Manifest]) -> Manifest:
    return resources["Deployment"]["spec"]["template"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def container(pod: Manifest) -> Manifest:
    [only] = pod["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load(DEPLOY / "kustomization.yaml")[0]["resources"])
    assert listed == {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, "1.37"])
def test_manifests_are_valid_kubernetes(resources: dict[str, Manifest], version: str) -> None:
    for manifest in resources.values():
        kubernetes_validate.validate(manifest, version, strict=True)


def test_manifests_have_the_expected_kinds(resources: dict[str, Manifest]) -> None:
    assert set(resources) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


@pytest.mark.parametrize(
    ("probe", "path"),
    [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")],
)
def test_probes_use_the_health_routes(container: Manifest, probe: str, path: str) -> None:
    assert container[probe]["httpGet"] == {"path": path, "port": "http"}


def test_startup_probe_allows_the_model_load(container: Manifest) -> None:
    probe = container["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60


def test_container_runs_as_non_root_read_only(pod: Manifest, container: Manifest) -> None:
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_tmp_is_a_writable_empty_dir(pod: Manifest, container: Manifest) -> None:
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume


def test_resources_have_requests_and_limits(container: Manifest) -> None:
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_tensorflow_threads_match_the_cpu_limit(container: Manifest) -> None:
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MNIST_API_INFERENCE_THREADS"] == container["resources"]["limits"]["cpu"]
    Settings(**{key.removeprefix("MNIST_API_").lower(): value for key, value in env.items()})


def test_service_and_budget_select_the_pods(resources: dict[str, Manifest], pod: Manifest) -> None:
    labels = pod["metadata"]["labels"].items()
    assert resources["Service"]["spec"]["selector"].items() <= labels
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels
    selector = resources["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels


def test_service_targets_the_container_port(
    resources: dict[str, Manifest], container: Manifest
) -> None:
    ports = resources["Service"]["spec"]["ports"]
    assert [port["name"] for port in ports] == ["http", "grpc"]
    for port in ports:
        assert port["targetPort"] in {p["name"] for p in container["ports"]}


def test_autoscaler_scales_the_deployment_on_cpu(resources: dict[str, Manifest]) -> None:
    spec = resources["HorizontalPodAutoscaler"]["spec"]
    assert spec["scaleTargetRef"]["name"] == resources["Deployment"]["metadata"]["name"]
    assert spec["minReplicas"] >= 2
    assert [metric["resource"]["name"] for metric in spec["metrics"]] == ["cpu"]
    assert "replicas" not in resources["Deployment"]["spec"]  # the autoscaler owns the count


def test_kserve_predictor_uses_the_image_and_v2_health(resources: dict[str, Manifest]) -> None:
    [service] = load(DEPLOY / "kserve" / "inferenceservice.yaml")
    [container] = service["spec"]["predictor"]["containers"]
    deployment_image = resources["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == deployment_image["image"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert int(env["MNIST_API_PORT"]) == container["ports"][0]["containerPort"]
