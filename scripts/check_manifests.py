"""Checks trawl's deployment files without a cluster or a container engine.

Run by scripts/check-deploy.sh (which CI runs through the test suite):

    python check_manifests.py --kustomize "kubectl kustomize" --trawl target/debug/trawl

1. Each Kubernetes layout (deploy/k8s/overlays/*) is rendered with kustomize
   and every object is validated against the Kubernetes OpenAPI schemas
   (kubernetes-validate, strict: an unknown field is an error).
2. Every workload meets what docs/deploy.md promises: the restricted
   security context, the probes on /livez and /readyz, requests and
   limits, a preStop pause inside a grace period that covers trawl's drain,
   topology spread, and per layout the objects an operator expects
   (Services, autoscalers, disruption budgets, network policies, the
   configuration, the Secrets, the indexer's StatefulSet and volume, the
   replicas' way to the index).
3. compose.yaml is validated against the Compose specification's JSON schema
   (check-jsonschema's copy) and checked for its healthchecks, dependencies
   and the two search replicas behind nginx.
4. The shared trawl.toml is a configuration trawl accepts, for every role.

Prints what it checked; exits 1 on the first layout with problems, after
listing all of that layout's problems.
"""

import argparse
import pathlib
import shlex
import subprocess
import sys

import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S_VERSION = "1.33.0"
# trawl.toml's server.request_timeout_ms: the drain waits for requests in
# flight at most this long.
REQUEST_TIMEOUT_S = 10
ROLES_SCALED = ("web", "results", "search")
PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16"}


class Problems(list):
    def check(self, ok, message):
        if not ok:
            self.append(message)
        return ok


def render(kustomize, layout):
    out = subprocess.run(
        shlex.split(kustomize) + [str(layout)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def check_workload(obj, problems):
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    spec = pod_spec(obj)
    pod = spec.get("securityContext", {})
    problems.check(pod.get("runAsNonRoot") is True, f"{name}: pod runAsNonRoot")
    problems.check(
        pod.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        f"{name}: pod seccompProfile RuntimeDefault",
    )
    problems.check(spec.get("automountServiceAccountToken") is False, f"{name}: no API token")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    for c in spec["containers"]:
        cname = f"{name} container {c['name']}"
        sc = c.get("securityContext", {})
        problems.check(sc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem")
        problems.check(sc.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation false")
        problems.check(sc.get("runAsNonRoot") is True, f"{cname}: runAsNonRoot")
        problems.check(
            sc.get("capabilities", {}).get("drop") == ["ALL"], f"{cname}: capabilities drop ALL"
        )
        problems.check(not sc.get("capabilities", {}).get("add"), f"{cname}: no capability added")
        problems.check(
            sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
            f"{cname}: seccompProfile RuntimeDefault",
        )
        for probe, path in (
            ("livenessProbe", "/livez"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/livez"),
        ):
            problems.check(
                c.get(probe, {}).get("httpGet", {}).get("path") == path,
                f"{cname}: {probe} on {path}",
            )
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory"):
                problems.check(what in res.get(kind, {}), f"{cname}: {kind}.{what}")
        pause = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        if problems.check(pause is not None, f"{cname}: a preStop sleep"):
            problems.check(
                grace >= pause + REQUEST_TIMEOUT_S + 5,
                f"{cname}: terminationGracePeriodSeconds {grace} covers the preStop pause "
                f"({pause} s) and the drain ({REQUEST_TIMEOUT_S} s) with a margin",
            )
        image = c.get("image", "")
        problems.check(
            ":" in image and not image.endswith(":latest"), f"{cname}: a pinned image ({image})"
        )
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        problems.check("/tmp" in mounts, f"{cname}: /tmp is a volume")
        problems.check("/etc/trawl" in mounts, f"{cname}: trawl.toml is mounted")
        env = {e["name"]: e for e in c.get("env", [])}
        problems.check(
            env.get("TRAWL_CONFIG", {}).get("value") == "/etc/trawl/trawl.toml",
            f"{cname}: TRAWL_CONFIG",
        )
    return spec


def check_layout(layout, objects, problems):
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
        ns = obj["metadata"].get("namespace")
        if obj["kind"] != "Namespace":
            problems.check(ns == "trawl", f"{obj['kind']}/{obj['metadata']['name']}: namespace trawl")
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {e.message} at {list(e.path)}")
        except kubernetes_validate.utils.SchemaNotFoundError as e:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: no schema ({e})")
    namespace = by_kind.get("Namespace", {}).get("trawl", {})
    problems.check(
        namespace.get("metadata", {}).get("labels", {}).get("pod-security.kubernetes.io/enforce")
        == "restricted",
        "the namespace enforces the restricted Pod Security Standard",
    )
    configs = [c for n, c in by_kind.get("ConfigMap", {}).items() if n.startswith("trawl-config")]
    problems.check(
        len(configs) == 1 and "trawl.toml" in configs[0].get("data", {}),
        "a ConfigMap holds trawl.toml",
    )
    secrets = by_kind.get("Secret", {})
    for name in ("trawl-secrets", "trawl-store", "trawl-engine-keys"):
        problems.check(name in secrets, f"the Secret {name}")
    policies = by_kind.get("NetworkPolicy", {})
    problems.check("trawl-default-deny" in policies, "a default-deny NetworkPolicy")
    problems.check("trawl-dns" in policies, "DNS allowed by a NetworkPolicy")
    workloads = list(by_kind.get("Deployment", {}).values()) + list(
        by_kind.get("StatefulSet", {}).values()
    )
    for obj in workloads:
        spec = check_workload(obj, problems)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                problems.check(
                    volume["configMap"]["name"] in by_kind.get("ConfigMap", {}),
                    f"{obj['metadata']['name']}: its ConfigMap {volume['configMap']['name']} exists",
                )
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    problems.check(
                        ref["name"] in secrets
                        and (ref.get("optional") or ref["key"] in secrets[ref["name"]]["stringData"]),
                        f"{obj['metadata']['name']}: secret {ref['name']}/{ref['key']} exists",
                    )
    services = by_kind.get("Service", {})
    if layout == "services":
        deployments = by_kind.get("Deployment", {})
        for role in ROLES_SCALED:
            d = deployments.get(role)
            if not problems.check(d is not None, f"a Deployment for {role}"):
                continue
            spec = pod_spec(d)
            problems.check(
                any(
                    t["topologyKey"] == "kubernetes.io/hostname"
                    for t in spec.get("topologySpreadConstraints", [])
                ),
                f"{role}: spread over nodes",
            )
            args = spec["containers"][0].get("args", [])
            problems.check(args == ["serve", "--role", role], f"{role}: runs --role {role}")
            problems.check(role in services, f"a Service for {role}")
            hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(role)
            if problems.check(hpa is not None, f"an HPA for {role}"):
                problems.check(
                    hpa["spec"]["scaleTargetRef"]["name"] == role
                    and hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
                    and hpa["spec"]["minReplicas"] >= 2,
                    f"{role}: scaled on CPU, two replicas at least",
                )
            pdb = by_kind.get("PodDisruptionBudget", {}).get(role)
            problems.check(
                pdb is not None
                and pdb["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"],
                f"a PodDisruptionBudget for {role}",
            )
            problems.check(role in policies, f"a NetworkPolicy for {role}")
        indexer = by_kind.get("StatefulSet", {}).get("indexer")
        if problems.check(indexer is not None, "the indexer is a StatefulSet"):
            problems.check(indexer["spec"]["replicas"] == 1, "one indexer")
            claims = indexer["spec"].get("volumeClaimTemplates", [])
            problems.check(
                len(claims) == 1
                and any(
                    m["name"] == claims[0]["metadata"]["name"] and m["mountPath"] == "/var/lib/trawl"
                    for m in pod_spec(indexer)["containers"][0]["volumeMounts"]
                ),
                "the indexer's data directory is its PersistentVolumeClaim",
            )
            problems.check("indexer" in services, "a Service for the indexer")
            problems.check("indexer" in policies, "a NetworkPolicy for the indexer")
            env = {e["name"] for e in pod_spec(indexer)["containers"][0]["env"]}
            problems.check(
                {"TRAWL_DATABASE_URL", "TRAWL_AMQP_URL"} <= env, "the indexer's PostgreSQL and RabbitMQ"
            )
            problems.check("TRAWL_INDEX_KEY" in env, "the indexer knows the replicas' key")
        search = deployments.get("search")
        if search:
            env = {e["name"]: e.get("value") for e in pod_spec(search)["containers"][0]["env"]}
            problems.check(
                env.get("TRAWL_INDEX_FROM") == "http://indexer:8080/",
                "search replicas pull the index from the indexer",
            )
            problems.check("TRAWL_INDEX_KEY" in env, "search replicas send the index's key")
        # Who talks to whom.
        def allowed_from(policy):
            return [
                peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                for rule in policy["spec"].get("ingress", [])
                for peer in rule.get("from", [])
            ]

        def allowed_to(policy):
            return [
                peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                or peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                or ("internet" if "ipBlock" in peer else None)
                for rule in policy["spec"].get("egress", [])
                for peer in rule.get("to", [])
            ]

        if all(r in policies for r in ("web", "results", "search", "indexer")):
            problems.check(allowed_to(policies["web"]) == ["results"], "web reaches results only")
            problems.check(allowed_from(policies["results"]) == ["web"], "results is reached by web only")
            problems.check(allowed_to(policies["results"]) == ["search"], "results reaches search only")
            problems.check(allowed_from(policies["search"]) == ["results"], "search is reached by results only")
            problems.check(
                set(allowed_to(policies["search"])) == {"indexer", "internet"},
                "search reaches the indexer and the engines",
            )
            problems.check(
                {"postgresql", "rabbitmq"} <= set(allowed_to(policies["indexer"])),
                "the indexer reaches PostgreSQL and RabbitMQ",
            )
            for name in ("search", "indexer"):
                for rule in policies[name]["spec"]["egress"]:
                    for peer in rule.get("to", []):
                        if "ipBlock" in peer and peer["ipBlock"]["cidr"] == "0.0.0.0/0":
                            problems.check(
                                PRIVATE <= set(peer["ipBlock"].get("except", [])),
                                f"{name}: the internet excludes private ranges",
                            )
    else:
        problems.check(set(by_kind.get("Deployment", {})) == set(), "one-binary: no Deployment")
        one = by_kind.get("StatefulSet", {}).get("trawl")
        if problems.check(one is not None, "one-binary: the StatefulSet trawl"):
            problems.check(one["spec"]["replicas"] == 1, "one-binary: one replica (one writer)")
            problems.check(one["spec"].get("volumeClaimTemplates"), "one-binary: a volume")
            problems.check(pod_spec(one)["containers"][0]["args"] == ["serve"], "one-binary: trawl serve")
        problems.check("trawl" in services, "one-binary: a Service")
        problems.check("trawl" in policies, "one-binary: a NetworkPolicy")
    return by_kind


def check_compose(problems):
    compose = ROOT / "compose.yaml"
    checked = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(compose),
        ],
        capture_output=True,
        text=True,
    )
    problems.check(
        checked.returncode == 0, f"compose.yaml against the Compose schema: {checked.stdout}{checked.stderr}"
    )
    doc = yaml.safe_load(compose.read_text())
    services = doc["services"]
    for name in ("web", "results", "search", "indexer", "search-lb", "postgres", "rabbitmq", "prometheus"):
        problems.check(name in services, f"compose: the service {name}")
    for name in ("web", "results", "search", "indexer"):
        s = services.get(name, {})
        problems.check(
            s.get("healthcheck", {}).get("test") == ["CMD", "/usr/local/bin/trawl", "probe", "--path", "/readyz"],
            f"compose: {name}'s healthcheck asks /readyz",
        )
        problems.check(s.get("read_only") is True, f"compose: {name} has a read-only root")
        problems.check(s.get("command", [])[:2] == ["serve", "--role"], f"compose: {name} runs one role")
    problems.check(services["search"].get("deploy", {}).get("replicas") == 2, "compose: two search replicas")
    problems.check(
        services["results"]["environment"].get("TRAWL_SEARCH_URL") == "http://search-lb:8080/",
        "compose: results calls search through nginx",
    )
    problems.check(
        services["search-lb"]["image"].startswith("docker.io/library/nginx:"),
        "compose: the official nginx image",
    )
    for name, needs in (
        ("web", "results"),
        ("results", "search-lb"),
        ("search-lb", "search"),
        ("search", "indexer"),
        ("indexer", "postgres"),
        ("indexer", "rabbitmq"),
    ):
        problems.check(
            services[name].get("depends_on", {}).get(needs, {}).get("condition") == "service_healthy",
            f"compose: {name} waits for {needs} to be healthy",
        )
    for mount in services["search-lb"].get("volumes", []):
        problems.check((ROOT / mount.split(":")[0]).is_file(), f"compose: {mount} exists")
    for config in doc.get("configs", {}).values():
        problems.check((ROOT / config["file"]).is_file(), f"compose: {config['file']} exists")
    return doc


def check_config(trawl, problems):
    toml = ROOT / "deploy/k8s/components/pod-defaults/trawl.toml"
    shown = subprocess.run(
        [trawl, "--config", str(toml), "config", "show"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TRAWL_INDEX_FROM": "http://indexer:8080/"},
    )
    problems.check(shown.returncode == 0, f"trawl.toml: {shown.stderr.strip()}")
    problems.check('index_from = "http://indexer:8080/"' in shown.stdout, "trawl.toml: TRAWL_INDEX_FROM read")


def report(what, problems, passed):
    """Prints `passed` or every problem; whether there were none."""
    if problems:
        print(f"{what}: {len(problems)} problems")
        for p in problems:
            print(f"  - {p}")
        return False
    print(passed)
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kustomize", required=True, help="the command that renders a kustomization")
    parser.add_argument("--trawl", required=True, help="a trawl binary, to read trawl.toml")
    args = parser.parse_args()
    ok = True
    for layout in sorted((ROOT / "deploy/k8s/overlays").iterdir()):
        problems = Problems()
        objects = render(args.kustomize, layout)
        by_kind = check_layout(layout.name, objects, problems)
        kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
        what = f"deploy/k8s/overlays/{layout.name}"
        ok &= report(
            what,
            problems,
            f"{what}: {len(objects)} objects valid for Kubernetes {K8S_VERSION} ({kinds}); "
            "security settings, probes, resources and drain checked",
        )
    problems = Problems()
    doc = check_compose(problems)
    check_config(args.trawl, problems)
    ok &= report(
        "compose.yaml / trawl.toml",
        problems,
        f"compose.yaml: valid against the Compose specification ({len(doc['services'])} services); "
        "healthchecks, dependencies and replicas checked\ntrawl.toml: accepted by trawl",
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
