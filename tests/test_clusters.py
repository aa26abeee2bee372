"""clusters/: the launcher configs validate against the schema inside the installed ray package (and
Ray's own default-filling), the KubeRay RayJob carries what it needs, every cluster runs with Ray's
token authentication (the variables named as the installed Ray reads them, the token from a file or a
Kubernetes Secret, never a literal), the RayJob's dashboard is reachable by the KubeRay operator, the
NetworkPolicies admit what the RayJob needs and nothing else, a head started the way the launcher
configs start one refuses a client without the token, and Ray Train drivers stay on the nodes the
configs mark for them."""

import copy
import ipaddress
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers import free_port, stop_ray_head

CLUSTERS = Path(__file__).resolve().parents[1] / "clusters"
LAUNCHER = ["aws-gpu.yaml", "gcp-gpu.yaml"]
RAYJOB = CLUSTERS / "kuberay-rayjob.yaml"
NETPOL = CLUSTERS / "kuberay-networkpolicy.yaml"
RAY = str(Path(sys.executable).parent / "ray")

# Ray's token authentication (Ray >= 2.52): the variables, checked against the installed Ray below.
MODE, TOKEN, TOKEN_PATH = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"  # where Ray looks when neither variable is set
# The Secret the RayJob reads; `auth_token` is KubeRay's RAY_AUTH_TOKEN_SECRET_KEY, the key the operator
# reads from authOptions.secretName.
SECRET = {"name": "caseray-ray-token", "key": "auth_token"}
JOB_LABEL = {"caseray.io/rayjob": "caseray-square-paper"}
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "kuberay-operator"}  # the KubeRay Helm chart's pod label
DASHBOARD_PORT = 8265  # where the operator reaches a RayJob's dashboard (the head port named "dashboard")


def ray_schema() -> dict:
    import ray.autoscaler

    return json.loads((Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json").read_text())


def launcher(name: str) -> dict:
    return yaml.safe_load((CLUSTERS / name).read_text())


def rayjob() -> dict:
    (job,) = yaml.safe_load_all(RAYJOB.read_text())
    return job


def start_env(command: str) -> dict[str, str]:
    """The variables a launcher command sets on its `ray start` (``VAR=value ray start ...``)."""
    for part in re.split(r";|&&|\|\|", command):
        words = shlex.split(part)
        if "ray" in words and words[words.index("ray") + 1:][:1] == ["start"]:
            return dict(w.split("=", 1) for w in words[:words.index("ray")] if re.fullmatch(r"[A-Z_]+=.*", w))
    raise AssertionError(f"no `ray start` in {command!r}")


def ray_starts(config: dict) -> list[str]:
    return [c for key in ("head_start_ray_commands", "worker_start_ray_commands")
            for c in config[key] if re.search(r"\bray start\b", c)]


@pytest.mark.parametrize("name", LAUNCHER)
def test_launcher_configs_validate_against_rays_schema(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = launcher(name)
    jsonschema.validate(config, ray_schema())
    validate_config(prepare_config(copy.deepcopy(config)))  # Ray's own path in `ray up`
    types = config["available_node_types"]
    assert set(types) == {"head", "cpu_worker", "gpu_worker"} and config["head_node_type"] == "head"
    assert types["head"]["resources"]["caseray_driver"] > 0  # trial drivers stay on the on-demand head
    assert all("caseray_driver" not in types[t]["resources"] for t in ("cpu_worker", "gpu_worker"))
    assert types["gpu_worker"]["resources"]["GPU"] == 8 and types["cpu_worker"]["min_workers"] == 0
    assert config["idle_timeout_minutes"] > 0
    assert any("setup.sh" in c for c in config["setup_commands"])
    # the dashboard stays on the head's loopback, reached through `ray dashboard` (an SSH tunnel)
    assert all("--dashboard-host=127.0.0.1" in c for c in config["head_start_ray_commands"] if "--head" in c)
    broken = copy.deepcopy(config)
    broken["max_workers"] = "many"  # the schema check can fail
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema())


@pytest.mark.parametrize("name", LAUNCHER)
def test_launcher_configs_start_every_node_with_token_auth_and_the_token_from_a_file(name):
    config = launcher(name)
    starts = ray_starts(config)
    assert any("--head" in c for c in starts) and any("--address" in c for c in starts)
    for command in starts:  # head and workers alike: a node without it could not join, or would be open
        env = start_env(command)
        assert env.get(MODE) == "token", command
        assert TOKEN not in env, command  # never the token itself in the file
    token_files = {start_env(c).get(TOKEN_PATH, DEFAULT_TOKEN_FILE) for c in starts}
    assert len(token_files) == 1  # every node reads the same file ...
    (token_file,) = token_files
    local = config["file_mounts"][token_file]  # ... which `ray up` copies from the user's machine
    assert local.startswith(("~/", "/"))  # a file of the user's, outside the checkout `ray up` syncs
    assert not Path(os.path.expanduser(local)).resolve().is_relative_to(CLUSTERS.parent)
    # clients run on the nodes (`ray exec`, `ray attach`) speak token auth too
    assert any(f"export {MODE}=token" in c for c in config["setup_commands"])
    assert start_env("ulimit -n 1; A_B=1 ray start --head") == {"A_B": "1"}  # the parser sees a prefix


def test_auth_variable_names_are_the_ones_the_installed_ray_reads(tmp_path):
    """The names in the configs are Ray's: RAY_AUTH_MODE is Ray's own constant; the token variables and
    the default file are shown to be read by Ray's token loader (C++, no Python constant) in a fresh
    process; the dashboard's HTTP middleware takes the token as `Authorization: Bearer` and as the
    `x-ray-authorization` header the KubeRay operator sends."""
    from ray._private.authentication.authentication_token_setup import AUTH_MODE_ENV_VAR

    assert AUTH_MODE_ENV_VAR == MODE
    probe = r"""
import asyncio, json, os, sys
import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from ray._private.authentication.http_token_authentication import get_token_auth_middleware
from ray._raylet import AuthenticationMode, AuthenticationTokenLoader, Config, get_authentication_mode

def loaded(env):
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        os.environ.pop(var, None)
    os.environ.update(env)
    Config.initialize("")  # re-read the environment, as Ray's own tests do
    loader = AuthenticationTokenLoader.instance()
    loader.reset_cache()
    token = loader.get_raw_token(ignore_auth_mode=True) if loader.has_token(ignore_auth_mode=True) else None
    return [get_authentication_mode() == AuthenticationMode.TOKEN, token]

async def statuses(token):
    async def jobs(request):
        return web.Response(text="[]")
    app = web.Application(middlewares=[get_token_auth_middleware(aiohttp)])
    app.router.add_get("/api/jobs/", jobs)
    headers = {"none": {}, "wrong": {"Authorization": "Bearer " + "0" * 64},
               "bearer": {"Authorization": "Bearer " + token}, "x-ray": {"x-ray-authorization": "Bearer " + token}}
    async with TestClient(TestServer(app)) as client:
        return {k: (await client.get("/api/jobs/", headers=h)).status for k, h in headers.items()}

cases = json.loads(sys.argv[1])
out = {name: loaded(env) for name, env in cases.items()}
loaded(cases["env"])
out["http"] = asyncio.run(statuses(cases["env"]["RAY_AUTH_TOKEN"]))
print(json.dumps(out))
"""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    tokens = {k: secrets.token_hex(32) for k in ("env", "path", "default")}
    (tmp_path / "token").write_text(tokens["path"] + "\n")  # whitespace around a file's token is dropped
    (home / ".ray" / "auth_token").write_text(tokens["default"])
    cases = {"env": {MODE: "token", TOKEN: tokens["env"]},
             "path": {MODE: "token", TOKEN_PATH: str(tmp_path / "token")},
             "default": {MODE: "token"}, "disabled": {MODE: "disabled"}}
    env = {k: v for k, v in os.environ.items() if k not in (MODE, TOKEN, TOKEN_PATH)} | {"HOME": str(home)}
    run = subprocess.run([sys.executable, "-c", probe, json.dumps(cases)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["env"] == [True, tokens["env"]]  # RAY_AUTH_MODE=token, the token from RAY_AUTH_TOKEN
    assert out["path"] == [True, tokens["path"]]  # ... from the file RAY_AUTH_TOKEN_PATH names
    assert out["default"] == [True, tokens["default"]]  # ... from ~/.ray/auth_token (what `ray up` copies)
    assert out["disabled"][0] is False
    assert out["http"] == {"none": 401, "wrong": 403, "bearer": 200, "x-ray": 200}
    # `ray get-auth-token --generate`, as clusters/README.md has it: 32 random bytes in hex, in
    # ~/.ray/auth_token with no newline (a Secret can be made from the file as it is), printed too
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    made = subprocess.run([RAY, "get-auth-token", "--generate"], env=env | {"HOME": str(fresh)},
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    written = (fresh / ".ray" / "auth_token").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", written) and made.stdout == written


def test_kuberay_rayjob_has_autoscaling_and_runs_the_paper_sweep():
    job = rayjob()
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert "sweeps/square_grid.py --preset paper" in spec["entrypoint"]
    cluster = spec["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is True and cluster["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert "caseray_driver" in cluster["headGroupSpec"]["rayStartParams"]["resources"]
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert set(groups) == {"cpu-workers", "gpu-workers"}
    for g in groups.values():
        assert 0 == g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        (container,) = g["template"]["spec"]["containers"]
        assert container["image"].startswith("YOUR-REGISTRY/caseray:2.60.0") and container["resources"]["limits"]
    assert groups["gpu-workers"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"


def test_kuberay_rayjob_dashboard_is_reachable_by_the_operator():
    """The operator submits and polls the job through the head Service on the port named `dashboard`;
    a dashboard bound to the pod's loopback never answers it, and the job never starts."""
    head = rayjob()["spec"]["rayClusterSpec"]["headGroupSpec"]
    params = head["rayStartParams"]
    assert params.get("dashboard-host", "0.0.0.0") == "0.0.0.0"  # KubeRay's default, said explicitly
    assert int(params.get("dashboard-port", DASHBOARD_PORT)) == DASHBOARD_PORT
    assert params.get("include-dashboard", "true") == "true"
    (container,) = head["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert ports.get("dashboard", DASHBOARD_PORT) == DASHBOARD_PORT


def ray_containers(job: dict) -> dict[str, dict]:
    """Every container of the RayJob that runs Ray or talks to it: head, worker groups, the submitter."""
    cluster = job["spec"]["rayClusterSpec"]
    out = {"head": cluster["headGroupSpec"]["template"]["spec"]["containers"][0]}
    out |= {g["groupName"]: g["template"]["spec"]["containers"][0] for g in cluster["workerGroupSpecs"]}
    out["submitter"] = job["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    return out


def pod_templates(job: dict) -> dict[str, dict]:
    cluster = job["spec"]["rayClusterSpec"]
    out = {"head": cluster["headGroupSpec"]["template"]}
    out |= {g["groupName"]: g["template"] for g in cluster["workerGroupSpecs"]}
    out["submitter"] = job["spec"]["submitterPodTemplate"]
    return out


def test_kuberay_rayjob_turns_token_auth_on_everywhere_with_the_token_from_a_secret():
    job = rayjob()
    spec = job["spec"]
    cluster = spec["rayClusterSpec"]
    # the operator's side: it authenticates its dashboard calls with the token of this Secret
    assert cluster["authOptions"] == {"mode": "token", "secretName": SECRET["name"]}
    assert tuple(int(x) for x in cluster["rayVersion"].split(".")) >= (2, 52, 0)  # token auth's first Ray
    assert spec.get("submissionMode", "K8sJobMode") == "K8sJobMode"  # so there is a submitter pod to cover
    containers = ray_containers(job)
    assert set(containers) == {"head", "cpu-workers", "gpu-workers", "submitter"}
    for role, container in containers.items():
        env = {e["name"]: e for e in container.get("env", [])}
        assert env[MODE] == {"name": MODE, "value": "token"}, role
        assert env[TOKEN] == {"name": TOKEN, "valueFrom": {"secretKeyRef": SECRET}}, role  # no `value`
        assert TOKEN_PATH not in env, role
    assert spec["submitterPodTemplate"]["spec"]["restartPolicy"] == "Never"  # a Job's pod


# A literal secret: a long hex run (`openssl rand -hex`, Ray's token), or a credential-named key or
# variable given a value that is not a reference ($VAR, $(command), <placeholder>, a secretKeyRef).
HEX_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
CREDENTIAL = re.compile(r"(?i)(token|password|passwd|secret_access_key|access_key_id|private_key|api_key)"
                        r"\"?\s*[:=]\s*[\"']?(?P<value>[^\s\"'`,}]*)")


def literal_secrets(text: str) -> list[str]:
    found = HEX_RUN.findall(text)
    for m in CREDENTIAL.finditer(text):
        value = m["value"]
        if (len(value) >= 8 and not value.startswith(("$", "<", "{", "~", "/"))
                and re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
            found.append(m.group(0))
    return found


def test_no_literal_secret_in_any_cluster_file():
    for path in sorted(CLUSTERS.iterdir()):
        text = path.read_text()
        assert not literal_secrets(text), (path.name, literal_secrets(text))
        if path.suffix == ".yaml":
            for doc in yaml.safe_load_all(text):
                assert doc.get("kind") != "Secret", path.name  # Secrets are made with kubectl, not kept here
    # the check can fail: literal tokens are caught, references are not
    token = secrets.token_hex(32)
    assert literal_secrets(f"export RAY_AUTH_TOKEN={token}")
    assert literal_secrets("stringData: {auth_token: c3VwZXItc2VjcmV0LTEyMw}")
    assert literal_secrets("RAY_AUTH_TOKEN: s3cr3t-Value")
    assert literal_secrets("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert not literal_secrets('export RAY_AUTH_TOKEN="$(kubectl get secret caseray-ray-token -o jsonpath=x)"\n'
                               'kubectl create secret generic x --from-literal=auth_token="$(openssl rand -hex 32)"\n'
                               "- {name: RAY_AUTH_MODE, value: token}\n"
                               "valueFrom: {secretKeyRef: {name: caseray-ray-token, key: auth_token}}\n"
                               "RAY_AUTH_TOKEN_PATH=~/.ray/auth_token")


# NetworkPolicy semantics, enough for these policies: label selectors, namespaces, ports, ipBlocks.
def selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        present, value = e["key"] in labels, labels.get(e["key"])
        ok = {"In": present and value in e.get("values", []), "NotIn": value not in e.get("values", []),
              "Exists": present, "DoesNotExist": not present}[e["operator"]]
        if not ok:
            return False
    return True


def peer_matches(peer: dict, policy_ns: str, other: dict) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other["ip"])
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(x) for x in block.get("except", []))
    if "namespace" not in other:  # not a pod (the API server): only an ipBlock names it
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other["namespace"]}):
            return False
    elif other["namespace"] != policy_ns:
        return False
    return selects(peer.get("podSelector"), other["labels"])


def port_matches(ports: list | None, port: int, protocol: str) -> bool:
    return not ports or any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def allowed(policies: list[dict], direction: str, pod: dict, other: dict, port: int, protocol: str = "TCP") -> bool:
    """Whether `pod` may take traffic from `other` (Ingress) or send it to `other` (Egress) on `port`."""
    kind, key, peers_key = direction.capitalize(), direction.lower(), "from" if direction == "ingress" else "to"
    mine = [p for p in policies if p["metadata"]["namespace"] == pod["namespace"]
            and selects(p["spec"]["podSelector"], pod["labels"]) and kind in p["spec"]["policyTypes"]]
    if not mine:
        return True  # a pod no policy selects is open
    return any(port_matches(rule.get("ports"), port, protocol)
               and (peers_key not in rule or any(peer_matches(peer, p["metadata"]["namespace"], other)
                                                  for peer in rule[peers_key]))
               for p in mine for rule in p["spec"].get(key, []))


def test_networkpolicies_admit_the_rayjob_its_operator_dns_and_mlflow_only():
    ns = "jobs"  # the RayJob's namespace: the policies are applied there too
    policies = []
    for doc in yaml.safe_load_all(NETPOL.read_text()):
        assert doc["apiVersion"] == "networking.k8s.io/v1" and doc["kind"] == "NetworkPolicy"
        assert "namespace" not in doc["metadata"]  # they go where the RayJob goes
        policies.append({**doc, "metadata": {**doc["metadata"], "namespace": ns}})
    assert len({p["metadata"]["name"] for p in policies}) == len(policies) == 4
    job = rayjob()
    for role, template in pod_templates(job).items():  # the policies select every pod by this label
        assert template["metadata"]["labels"] == JOB_LABEL, role
    kuberay = {"ray.io/cluster": "caseray-square-paper-x7k2p", "ray.io/is-ray-node": "yes"}  # KubeRay's own
    ips = iter(f"10.8.0.{i}" for i in range(2, 100))
    pod = lambda namespace, labels: {"namespace": namespace, "labels": labels, "ip": next(ips)}  # noqa: E731
    head = pod(ns, JOB_LABEL | kuberay | {"ray.io/node-type": "head", "ray.io/group": "headgroup"})
    cpu = pod(ns, JOB_LABEL | kuberay | {"ray.io/node-type": "worker", "ray.io/group": "cpu-workers"})
    gpu = pod(ns, JOB_LABEL | kuberay | {"ray.io/node-type": "worker", "ray.io/group": "gpu-workers"})
    submitter = pod(ns, JOB_LABEL | {"batch.kubernetes.io/job-name": "caseray-square-paper"})
    operator_ns = next(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                       for p in policies for rule in p["spec"].get("ingress", []) for peer in rule["from"]
                       if peer.get("podSelector", {}).get("matchLabels") == OPERATOR_POD_LABELS)
    operator = pod(operator_ns, OPERATOR_POD_LABELS | {"app.kubernetes.io/instance": "kuberay-operator"})
    impostor = pod("default" if operator_ns != "default" else "other", OPERATOR_POD_LABELS)
    neighbour = pod(ns, {"app": "notebook"})  # another pod of the RayJob's namespace
    stranger = pod("team-b", {"app": "scanner"})
    tracking = re.search(r"--tracking-uri http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc[.a-z]*:(\d+)",
                         job["spec"]["entrypoint"])
    mlflow = pod(tracking[2], {"app.kubernetes.io/name": "mlflow"})
    mlflow_port = int(tracking[3])
    dns = pod("kube-system", {"k8s-app": "kube-dns"})
    apiserver = {"ip": "172.16.0.2"}  # no pod: reached by address
    ray_pods = {"head": head, "cpu": cpu, "gpu": gpu, "submitter": submitter}

    def ingress(dst, src, port, protocol="TCP"):
        return allowed(policies, "ingress", dst, src, port, protocol)

    def egress(src, dst, port, protocol="TCP"):
        return allowed(policies, "egress", src, dst, port, protocol)

    for name, p in ray_pods.items():  # every pod of the RayJob is closed both ways
        assert any(selects(x["spec"]["podSelector"], p["labels"]) and "Ingress" in x["spec"]["policyTypes"]
                   for x in policies), name
        assert any(selects(x["spec"]["podSelector"], p["labels"]) and "Egress" in x["spec"]["policyTypes"]
                   for x in policies), name
    for port in (6379, DASHBOARD_PORT, 10001, 52365, 23456):  # GCS, dashboard, client, agent, a worker's
        for dst in (head, cpu, gpu):
            for src in (head, cpu, gpu, submitter):
                assert ingress(dst, src, port) and egress(src, dst, port), (dst["labels"], src["labels"], port)
            for outsider in (neighbour, stranger, impostor, mlflow):
                assert not ingress(dst, outsider, port), (dst["labels"], outsider["labels"], port)
    assert ingress(head, operator, DASHBOARD_PORT)  # the operator polls the job on the dashboard ...
    assert not any(ingress(head, operator, port) for port in (6379, 10001, 52365))  # ... and nothing else
    assert not any(ingress(w, operator, DASHBOARD_PORT) for w in (cpu, gpu, submitter))
    for name, p in ray_pods.items():
        assert egress(p, dns, 53, "UDP") and egress(p, dns, 53, "TCP"), name
        assert egress(p, mlflow, mlflow_port), name
        assert not egress(p, mlflow, 22) and not egress(p, dns, 80), name
        assert not egress(p, neighbour, DASHBOARD_PORT) and not egress(p, stranger, 5432), name
    assert egress(head, apiserver, 443)  # the in-tree autoscaler calls the API server; workers need not
    assert not any(egress(p, apiserver, 443) for p in (cpu, gpu, submitter))
    assert not egress(head, apiserver, 8080)
    # the model can fail: without the policies everything is open
    assert allowed([], "ingress", head, stranger, 6379)


@pytest.mark.slow
def test_a_head_started_like_the_launcher_configs_refuses_clients_without_the_token(tmp_path):
    """`ray start --head` with the launcher configs' variables and the token where they put it
    (~/.ray/auth_token): the dashboard answers 401 without a token, 403 with a wrong one; the GCS refuses
    a wrong token and a client that does not speak token auth; the right token, given as RAY_AUTH_TOKEN
    (how the RayJob's pods get it), gets in."""
    (head_start,) = [c for c in launcher("aws-gpu.yaml")["head_start_ray_commands"] if "--head" in c]
    node_env = start_env(head_start)
    assert node_env == {MODE: "token"}
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    token = secrets.token_hex(32)
    (home / ".ray" / "auth_token").write_text(token)
    (home / ".ray" / "auth_token").chmod(0o600)
    base = {k: v for k, v in os.environ.items() if k not in (MODE, TOKEN, TOKEN_PATH, "RAY_ADDRESS")}
    base["HOME"] = str(home)
    port, dashboard = free_port(), free_port()
    subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
                    "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
                    "--runtime-env-agent-port", str(free_port()), "--num-cpus", "0",
                    "--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats"],
                   env=base | node_env, check=True, capture_output=True, timeout=180)
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = f"http://127.0.0.1:{dashboard}"
        deadline = time.time() + 90
        while True:  # a public path: the dashboard is up
            try:
                opener.open(f"{url}/api/gcs_healthz", timeout=5).close()
                break
            except OSError:
                assert time.time() < deadline, "the dashboard did not come up"
                time.sleep(0.5)

        def status(headers: dict) -> int:
            try:
                with opener.open(urllib.request.Request(f"{url}/api/jobs/", headers=headers), timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as err:
                return err.code

        assert status({}) == 401
        assert status({"Authorization": "Bearer " + secrets.token_hex(32)}) == 403
        assert status({"Authorization": f"Bearer {token}"}) == 200
        assert status({"x-ray-authorization": f"Bearer {token}"}) == 200  # the KubeRay operator's header
        probe = ("from ray._raylet import GcsClient\n"
                 "try:\n"
                 f"    GcsClient(address='127.0.0.1:{port}').internal_kv_get(b'caseray', None, timeout=10)\n"
                 "    print('ADMITTED')\n"
                 "except Exception as err:\n"
                 "    print('REFUSED', type(err).__name__)\n")
        other = tmp_path / "elsewhere"  # a client home without the cluster's token file
        other.mkdir()
        clients = {"right": {MODE: "token", TOKEN: token}, "wrong": {MODE: "token", TOKEN: secrets.token_hex(32)},
                   "disabled": {MODE: "disabled"}}
        procs = {name: subprocess.Popen([sys.executable, "-c", probe], env=base | {"HOME": str(other)} | env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, env in clients.items()}
        said = {name: p.communicate(timeout=120)[0].strip().splitlines()[-1:] for name, p in procs.items()}
        assert said == {"right": ["ADMITTED"], "wrong": ["REFUSED AuthenticationError"],
                        "disabled": ["REFUSED AuthenticationError"]}
    finally:
        stop_ray_head(port, timeout=10)  # this head only: never `ray stop`, which ends every Ray here


def test_ray_train_drivers_go_where_the_cluster_marks():
    from caseray.sweep.ray import DRIVER_RESOURCES, driver_resources

    assert driver_resources({"CPU": 2.0}) == DRIVER_RESOURCES  # a laptop or CI: memory only
    marked = driver_resources({"CPU": 100.0, "caseray_driver": 64.0})
    assert marked == {**DRIVER_RESOURCES, "caseray_driver": 0.01}


def test_the_head_says_how_many_gpus_one_node_can_have():
    """``caseray_node_gpus`` on each config's head is the most GPUs one of its worker types has: what a
    sweep's GPU check reads while no GPU node is up."""
    from caseray.sweep.ray import NODE_GPUS_MARK

    for name in LAUNCHER:
        types = launcher(name)["available_node_types"]
        most = max(t["resources"].get("GPU", 0) for k, t in types.items() if k != "head")
        assert types["head"]["resources"][NODE_GPUS_MARK] == most > 0, name
    cluster = rayjob()["spec"]["rayClusterSpec"]
    head = json.loads(json.loads(cluster["headGroupSpec"]["rayStartParams"]["resources"]))
    most = max(int(g["rayStartParams"].get("num-gpus", 0)) for g in cluster["workerGroupSpecs"])
    assert head[NODE_GPUS_MARK] == most > 0
