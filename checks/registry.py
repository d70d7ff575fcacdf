"""The check catalogue: every check declares its stable ID, title, seed step and what it reads.

A check module looks like::

    @check("K8S-TARGETPORT", title="Service targetPort matches a container port",
           seed="Verify that the service is configured for targetPort",
           reads=("k8s.pods",), uses=("k8s.events",), fixes=("FIX-TARGETPORT",))
    def targetport(state: State) -> list[Finding]: ...

`reads` are what the check cannot judge without: the runner calls it only when each was read
(checks/gating.py), and otherwise reports `error` naming the grant (the read failed) or `skip`
naming the command that supplies it (not collected), so a check never re-declares them by hand.
`uses` are read when available and used as extra evidence (events, target health): the check
runs without them and says itself what it could not confirm. The collector reads the union of
both over the selected checks, once per diagnosis.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from checks.model import Finding
from checks.providers import providers


def layers() -> tuple[str, ...]:
    """Check layers in catalogue order: Kubernetes, probes, each cloud provider, nodes."""
    return ("k8s", "probe", *(p.name for p in providers()), "node")


def known_reads() -> frozenset[str]:
    """What a collector can read: the Kubernetes, probe and node reads and each provider's."""
    return CORE_READS | {r for p in providers() for r in p.reads}


# What a collector can read. Checks name these in `reads`; the collector plans calls from them.
CORE_READS = frozenset(
    {
        "k8s.service",
        "k8s.pods",
        "k8s.namespace_pods",
        "k8s.services",
        "k8s.endpoints",
        "k8s.nodes",
        "k8s.ingresses",
        "k8s.events",
        "k8s.networkpolicies",
        "k8s.targetgroupbindings",
        "k8s.kube_proxy",
        "k8s.lbc",
        "k8s.logs",
        "probe",
        "node",
    }
)
READS = known_reads()  # with the built-in providers; Registry.add asks known_reads() for ones added later

# The fixes of CHECKS.md. `writes` lists what each needs permission to change.
FIXES: dict[str, dict[str, object]] = {
    "FIX-TARGETPORT": {
        "title": "Patch the Service port's targetPort to the container's port",
        "writes": [("", "services", "patch")],
    },
    "FIX-RESTART-KUBE-PROXY": {
        "title": "Rollout restart of daemonset/kube-proxy in kube-system",
        "writes": [("apps", "daemonsets", "patch")],
    },
    "FIX-TRAFFIC-POLICY": {
        "title": "Set externalTrafficPolicy: Cluster (client source IP is lost)",
        "writes": [("", "services", "patch")],
    },
    "FIX-KUBE-PROXY-HOSTNAME": {
        "title": "Run kube-proxy with --hostname-override=$(NODE_NAME)",
        "writes": [("apps", "daemonsets", "patch")],
    },
    "FIX-HEALTHCHECK-PATH": {
        "title": "Set the Ingress health-check path (or success codes) to what the app answers",
        "writes": [("networking.k8s.io", "ingresses", "patch")],
    },
    "FIX-NLB-ANNOTATION": {
        "title": "Bring an out-of-range health-check annotation into range",
        "writes": [("", "services", "patch")],
    },
    "FIX-SG-RULE": {
        "title": "Admit the load balancer / probe source on the port in the security group",
        "writes": [
            ("aws", "ec2:AuthorizeSecurityGroupIngress", ""),
            ("tencent", "vpc:CreateSecurityGroupPolicies", ""),
        ],
    },
}


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    seed: str
    reads: tuple[str, ...]
    layer: str
    func: Callable[..., Finding | Iterable[Finding] | None]
    fixes: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()  # read when available, not required: the runner does not gate on them
    severity: int = 50  # prior for the ranker: how likely a failure here is the root cause (0-100)
    opt_in: bool = False  # node checks run only when enabled
    # Reads without which this check cannot rule its cause out: when one is missing or denied and
    # nothing fails, the verdict is `incomplete`, never `pass` (see checks/deciding.py).
    decides: tuple[str, ...] = ()
    # The check reports what the load balancer observes (targets unhealthy), not why: a failing
    # cause with evidence always ranks above it, and it then reads as that cause's consequence.
    symptom: bool = False
    doc: str = field(default="", compare=False)

    @property
    def all_reads(self) -> tuple[str, ...]:
        """Everything the collector reads for this check: the required reads, then the optional ones."""
        return self.reads + tuple(r for r in self.uses if r not in self.reads)


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, CheckSpec] = {}

    def add(self, spec: CheckSpec) -> None:
        if spec.id in self._specs and self._specs[spec.id].func is not spec.func:
            raise ValueError(f"check ID {spec.id} is declared twice")
        unknown = set(spec.all_reads) - known_reads()
        if unknown:
            raise ValueError(f"{spec.id} reads unknown state {sorted(unknown)}")
        if spec.layer not in layers():
            raise ValueError(f"{spec.id}: unknown layer {spec.layer}")
        for fix in spec.fixes:
            if fix not in FIXES:
                raise ValueError(f"{spec.id}: unknown fix {fix}")
        if not set(spec.decides) <= set(spec.all_reads):
            raise ValueError(f"{spec.id}: decides {sorted(set(spec.decides) - set(spec.all_reads))} without reading it")
        if set(spec.reads) & set(spec.uses):
            raise ValueError(f"{spec.id}: {sorted(set(spec.reads) & set(spec.uses))} both required (reads) and optional (uses)")
        self._specs[spec.id] = spec

    def get(self, check_id: str) -> CheckSpec:
        return self._specs[check_id]

    def all(self) -> list[CheckSpec]:
        order = {layer: i for i, layer in enumerate(layers())}
        return sorted(self._specs.values(), key=lambda s: (order[s.layer], s.id))

    def __contains__(self, check_id: str) -> bool:
        return check_id in self._specs

    def __len__(self) -> int:
        return len(self._specs)


_default = Registry()
_loaded = False


def check(
    check_id: str,
    *,
    title: str,
    seed: str,
    reads: Iterable[str],
    uses: Iterable[str] = (),
    fixes: Iterable[str] = (),
    severity: int = 50,
    opt_in: bool = False,
    decides: Iterable[str] = (),
    symptom: bool = False,
    registry: Registry | None = None,
) -> Callable:
    """Register a check function under its stable ID. Returns the function unchanged."""

    def decorate(func: Callable) -> Callable:
        prefix = check_id.split("-", 1)[0]
        layer = next((p.name for p in providers() if p.check_prefix == prefix), prefix.lower())
        (registry if registry is not None else _default).add(
            CheckSpec(
                id=check_id,
                title=title,
                seed=seed,
                reads=tuple(reads),
                uses=tuple(uses),
                layer=layer,
                func=func,
                fixes=tuple(fixes),
                severity=severity,
                opt_in=opt_in,
                decides=tuple(decides),
                symptom=symptom,
                doc=(func.__doc__ or "").strip(),
            )
        )
        return func

    return decorate


def default_registry() -> Registry:
    """The catalogue with every check module of the package imported."""
    global _loaded
    if not _loaded:
        for pkg in ("checks.k8s", "checks.probe", *(p.check_package for p in providers()), "checks.node"):
            module = importlib.import_module(pkg)
            for info in pkgutil.iter_modules(module.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{pkg}.{info.name}")
        _loaded = True
    return _default
