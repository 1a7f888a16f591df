"""deploy/ cannot run here (no Docker, no cluster): check statically that it agrees with the code.

The files parse; every ``loadsim``/``locust`` command parses with our real parsers; images, ports,
host names and the scenario's mount line up across the Dockerfile, docker-compose.yml and the
Kubernetes manifests, and with Locust's and the mock's defaults.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE = "loadsim:latest"


# --- reading the files ----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "docker-compose.yml").read_text()))


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(deployment name, container, pod spec) of every Kubernetes Deployment."""
    for name, d in by_kind("Deployment").items():
        spec = d["spec"]["template"]["spec"]
        for c in spec["containers"]:
            yield name, c, spec


def compose_defaults(value: str) -> str:
    """``${VAR:-default}`` as compose resolves it with VAR unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def compose_command(service: str) -> list[str]:
    command = compose()["services"][service]["command"]
    words = shlex.split(command) if isinstance(command, str) else command
    return [compose_defaults(str(w)) for w in words]


def flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def locust_defaults() -> Any:
    return locust_parser().parse_args([])


def locust_parser() -> Any:
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    from simulator.loadtest import options

    parser = get_empty_argument_parser()
    setup_parser_arguments(parser)
    options.add_arguments(parser)
    return parser


def parse_command(command: list[str], scenario_file: Path | None = None) -> Any:
    """Parse a container's command with the parser of the program it runs; fail naming the command."""
    args = list(command[1:])
    if scenario_file is not None and "--scenario" in args:
        i = args.index("--scenario") + 1
        if args[i].startswith("/scenarios/"):
            args[i] = str(scenario_file)  # the ConfigMap's file, materialised here
    try:
        if command[0] == "locust":
            return locust_parser().parse_args(args)
        if command[0] == "loadsim":
            from simulator.cli import build_parser

            return build_parser().parse_args(args)
    except SystemExit as e:
        pytest.fail(f"{' '.join(command)} does not parse (exit {e.code})")
    pytest.fail(f"unknown program {command[0]!r}: deploy/ runs only loadsim and locust")


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    cm = by_kind("ConfigMap")["loadsim-scenario"]
    ((key, text),) = cm["data"].items()
    path = tmp_path / key
    path.write_text(text)
    return path


# --- the Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_installs_the_wheel_and_exposes_the_ports_the_code_uses() -> None:
    steps = dockerfile()
    stages = [a for k, a in steps if k == "FROM"]
    assert stages and all(a.startswith("python:3.11") for a in stages)
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    workdir = [a for k, a in final if k == "WORKDIR"]
    assert workdir == ["/app"]
    copied = [w for k, a in steps if k == "COPY" and "--from=" not in a for w in a.split()[:-1]]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    # Everything loadsim needs is in the package (scenarios, locustfiles, catalogue): the image
    # installs the built wheel, as a user would, not the checkout in editable mode.
    assert {"simulator/", "pyproject.toml", "README.md"} <= set(copied)
    assert any(k == "RUN" and "pip wheel" in a for k, a in steps)
    assert any(k == "RUN" and re.search(r"pip install \S*\.whl", a) for k, a in final)
    assert not any(k == "RUN" and "pip install -e" in a for k, a in steps)
    # compose and Kubernetes run `locust -f locustfiles/<name>.py` from /app: the image links them there.
    linked = " ".join(a for k, a in final if k == "RUN")
    from simulator import locustfiles

    assert all(name in linked for name in locustfiles.NAMES) and "/app/locustfiles/" in linked
    exposed = {int(p) for k, a in steps if k == "EXPOSE" for p in a.split()}
    mock_port = _mock_default_port()
    defaults = locust_defaults()
    assert exposed == {defaults.web_port, defaults.master_bind_port, mock_port}


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    rules = [r for r in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "*"
    kept = {r[1:] for r in rules if r.startswith("!")}
    copied = {w for k, a in dockerfile() if k == "COPY" and "--from=" not in a for w in a.split()[:-1]}
    assert copied <= kept


def _mock_default_port() -> int:
    import argparse

    from simulator.mock.options import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return int(p.parse_args([]).port)


# --- docker-compose.yml -------------------------------------------------------------------------------


def test_compose_commands_parse_and_agree(scenario_file: Path) -> None:
    services = compose()["services"]
    assert set(services) == {"mock", "master", "worker"}
    for name, svc in services.items():
        assert svc["image"] == IMAGE, name
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile" and svc["build"]["context"] == ".."
        parse_command(compose_command(name))

    mock = parse_command(compose_command("mock"))
    assert mock.command == "mock" and mock.host == "0.0.0.0"
    master_cmd, worker_cmd = compose_command("master"), compose_command("worker")
    master, worker = parse_command(master_cmd), parse_command(worker_cmd)
    assert master.master and master.headless and not master.worker
    target = urlsplit(master.host)
    assert (target.hostname, target.port) == ("mock", mock.port)
    assert f"{mock.port}" in [str(p) for p in services["mock"]["expose"]]
    assert worker.worker and worker.master_host == "master" and worker.master_port == master.master_bind_port
    assert str(master.master_bind_port) in [str(p) for p in services["master"]["expose"]]
    assert f"127.0.0.1:{master.web_port}:{master.web_port}" in services["master"]["ports"]
    # The master waits for as many workers as compose starts, and both play the same scenario.
    replicas = int(compose_defaults(str(services["worker"]["deploy"]["replicas"])))
    assert master.expect_workers == replicas >= 2
    assert master.scenario == worker.scenario
    # Reports land in the image's reports directory, on a volume. Locust opens its CSV files when it
    # starts and creates no directory: they must go to one the image has.
    assert master.report_dir.rstrip("/") == "/app/reports"
    assert str(Path(master.csv_prefix).parent) == "/app/reports"
    assert master.html_file is None  # the harness writes locust.html after its report, which --html would risk
    assert any(v.endswith(":/app/reports") for v in services["master"]["volumes"])


# --- Kubernetes -----------------------------------------------------------------------------------


def test_manifests_are_well_formed() -> None:
    docs = manifests()
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ConfigMap", "loadsim-scenario"),
        ("Deployment", "loadsim-master"),
        ("Deployment", "loadsim-mock"),
        ("Deployment", "loadsim-worker"),
        ("NetworkPolicy", "loadsim-mock"),
        ("Service", "loadsim-master"),
        ("Service", "loadsim-mock"),
    ]
    deployments = by_kind("Deployment")
    for name, d in deployments.items():
        assert d["apiVersion"] == "apps/v1"
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    assert deployments["loadsim-master"]["spec"]["replicas"] == 1  # Locust has one master
    assert deployments["loadsim-mock"]["spec"]["replicas"] == 1  # reconciliation needs one store
    for name, svc in by_kind("Service").items():
        assert svc["apiVersion"] == "v1"
        selected = deployments[name]["spec"]["template"]
        assert svc["spec"]["selector"].items() <= selected["metadata"]["labels"].items(), name
        ports = {p["name"]: p["containerPort"] for c in selected["spec"]["containers"] for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in ports, f"{name}: targetPort {p['targetPort']} is no container port"
            assert p["port"] == ports[p["targetPort"]], name


def test_kubernetes_commands_parse_and_agree_with_the_services(scenario_file: Path) -> None:
    services = {name: {p["name"]: p["port"] for p in s["spec"]["ports"]} for name, s in by_kind("Service").items()}
    parsed: dict[str, Any] = {}
    for name, c, _ in containers():
        assert c["image"] == IMAGE, name
        parsed[name] = parse_command(c["command"] + c.get("args", []), scenario_file)
    mock, master, worker = parsed["loadsim-mock"], parsed["loadsim-master"], parsed["loadsim-worker"]
    defaults = locust_defaults()
    assert mock.command == "mock" and mock.host == "0.0.0.0" and services["loadsim-mock"]["http"] == mock.port
    target = urlsplit(master.host)
    assert (target.hostname, target.port) == ("loadsim-mock", mock.port)
    assert master.master and not master.headless  # a Deployment stays up: the web UI runs the tests
    assert master.master_bind_port == defaults.master_bind_port == services["loadsim-master"]["master"]
    assert master.web_port == defaults.web_port == services["loadsim-master"]["web"]
    assert worker.worker and worker.master_host == "loadsim-master"
    assert worker.master_port == services["loadsim-master"]["master"]


def test_the_scenario_configmap_is_a_valid_scenario_mounted_where_the_commands_read_it(scenario_file: Path) -> None:
    from simulator.scenario_check import validate_scenario

    scenario = validate_scenario(str(scenario_file))  # every problem of the file, and a few devices played
    assert scenario.population.devices >= 10_000  # worth a cluster
    read_by = 0
    for name, c, spec in containers():
        path = flag(c["command"], "--scenario")
        if path is None:
            continue
        read_by += 1
        mount = Path(path).parent.as_posix()
        volume = next(m["name"] for m in c["volumeMounts"] if m["mountPath"] == mount)
        source = next(v for v in spec["volumes"] if v["name"] == volume)
        assert source["configMap"]["name"] == "loadsim-scenario", name
        assert Path(path).name == scenario_file.name, name
    assert read_by == 2  # the master and the workers


def test_every_file_uses_one_image_and_the_reports_directory() -> None:
    images = {c["image"] for _, c, _ in containers()} | {s["image"] for s in compose()["services"].values()}
    assert images == {IMAGE}
    master = next(c for name, c, _ in containers() if name == "loadsim-master")
    assert {"mountPath": "/app/reports", "name": "reports"} in master["volumeMounts"]
    assert "/app/reports" in (DEPLOY / "Dockerfile").read_text()


# --- the mock's admin API and memory (issue #15) ----------------------------------------------------


def test_the_mock_and_the_master_share_the_admin_token_and_only_loadsim_reaches_the_mock() -> None:
    from simulator.mock.admin import ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE_ENV

    env = {name: {e["name"]: e for e in c.get("env", [])} for name, c, _ in containers()}
    refs = {
        name: env[name][ADMIN_TOKEN_ENV]["valueFrom"]["secretKeyRef"] for name in ("loadsim-mock", "loadsim-master")
    }
    assert refs["loadsim-mock"] == refs["loadsim-master"] == {"name": "loadsim-admin-token", "key": "token"}
    mock = next(c for name, c, _ in containers() if name == "loadsim-mock")
    assert mock["resources"]["limits"]["memory"] == "1Gi"
    policy = by_kind("NetworkPolicy")["loadsim-mock"]
    pods = by_kind("Deployment")["loadsim-mock"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pods.items()
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "loadsim"}}}]
    # compose: the same secret for both, the mock reads it as a file, the master through the env variable.
    services = compose()["services"]
    assert services["mock"]["secrets"] == services["master"]["secrets"] == ["loadsim_admin_token"]
    assert flag(compose_command("mock"), "--admin-token-file") == "/run/secrets/loadsim_admin_token"
    assert services["master"]["environment"][ADMIN_TOKEN_FILE_ENV] == "/run/secrets/loadsim_admin_token"
    assert compose()["secrets"]["loadsim_admin_token"] == {"environment": ADMIN_TOKEN_ENV}
    assert services["mock"]["mem_limit"] == "1g"


# --- Kubernetes: a dataset generated in shards (deploy/kubernetes/dataset/) ------------------------


def dataset_manifests() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes" / "dataset").glob("*.yaml")):
        for d in yaml.safe_load_all(path.read_text()):
            if d:
                docs[f"{d['kind']}/{d['metadata']['name']}"] = d
    return docs


def job_container(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return container, spec


def shell_command(container: dict[str, Any], index: int) -> list[str]:
    """The loadsim command a pod of the Indexed Job runs: ``sh -c`` with its index expanded."""
    command = container["command"]
    assert command[:2] == ["sh", "-c"] and len(command) == 3, "the index is expanded by sh -c"
    script = command[2].replace("${JOB_COMPLETION_INDEX}", str(index))
    assert "$" not in script, f"only JOB_COMPLETION_INDEX is expanded: {script}"
    words = shlex.split(script)
    assert words[0] == "exec", "exec: loadsim is the pod's process (signals, exit code)"
    return words[1:]


def test_the_dataset_jobs_shard_then_merge_on_one_volume() -> None:
    from simulator.dataset.shards import parse_shard

    docs = dataset_manifests()
    assert sorted(docs) == [
        "Job/loadsim-generate",
        "Job/loadsim-generate-merge",
        "PersistentVolumeClaim/loadsim-datasets",
    ]
    claim = docs["PersistentVolumeClaim/loadsim-datasets"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # shards write from several nodes
    generate_job, merge_job = docs["Job/loadsim-generate"], docs["Job/loadsim-generate-merge"]
    for job in (generate_job, merge_job):
        assert job["apiVersion"] == "batch/v1"
        container, spec = job_container(job)
        assert container["image"] == IMAGE
        assert spec["restartPolicy"] == "Never"
        limits = container["resources"]["limits"]
        assert {"cpu", "memory"} <= set(limits), "a Job's pods have limits: they run unattended"
        (volume,) = spec["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == "loadsim-datasets"
    job = generate_job["spec"]
    assert job["completionMode"] == "Indexed"
    n = job["completions"]
    assert job["parallelism"] == n >= 2
    container, _ = job_container(generate_job)
    mount = container["volumeMounts"][0]["mountPath"]
    outs = []
    for i in range(n):
        args = parse_command(shell_command(container, i))
        assert args.handler.__name__ == "_cmd_generate" and args.merge is None
        assert parse_shard(args.shard) == (i, n), "shard I of N: I the pod's index, N the completions"
        assert str(args.out).startswith(mount + "/")
        assert args.jobs is not None and args.jobs <= int(container["resources"]["limits"]["cpu"])
        outs.append(str(args.out))
    assert len(set(outs)) == n, "each shard into a folder of its own"
    merge_container, _ = job_container(merge_job)
    merged = parse_command(merge_container["command"])
    assert merged.scenario is None and merged.out is None
    out, *shard_dirs = map(str, merged.merge)
    assert shard_dirs == outs, "the merge reads every folder the shards wrote"
    assert out.startswith(merge_container["volumeMounts"][0]["mountPath"] + "/") and out not in outs


def test_the_dataset_jobs_stay_out_of_the_load_test_folder() -> None:
    # `kubectl apply -f deploy/kubernetes/` (README) starts a load test: it must not start a dataset job too.
    assert not any(d["kind"] == "Job" for d in manifests())
