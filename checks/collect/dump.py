"""Offline mode: build State from files a support engineer was given, recognised by content.

Accepted: Kubernetes objects as `kubectl get ... -o yaml|json` prints them (single objects, a
`List`, or multi-document YAML); AWS CLI JSON (`elbv2 describe-*`, `ec2 describe-*`); tccli
JSON (`clb Describe*`, `vpc Describe*`, `cvm DescribeInstances`, with or without the
`Response` wrapper); lbhealth's own snapshot extras (logs). A directory means every file in
it (recursively; dotfiles and Markdown notes are skipped). File names do not matter.

A kind that no file contains is recorded as not read, with the command that would supply it,
so checks skip instead of concluding from an absence the dump cannot show.
"""

from __future__ import annotations

import gc
import importlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from checks.collect.apishapes import document_problems
from checks.collect.errors import DumpError
from checks.collect.fieldtypes import field_type_problems
from checks.collect.node import facts_from_text
from checks.collect.yaml_list import Skim
from checks.model import Target
from checks.providers import providers
from checks.sources import source
from checks.state import State

# A 10,000-pod `kubectl get pods -A -o json` is about 85 MB; larger files are more likely a mistake.
MAX_FILE_BYTES = 256 * 1024 * 1024
STDIN = "-"  # `--from -`: one dump read from standard input
# libyaml's parser when PyYAML was built with it (about 3x faster than the pure-Python one).
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Kubernetes kind -> the read it stands for; checks/sources.py names the command that produces it.
KIND_READS: dict[str, str] = {
    "Service": "k8s.service",
    "Pod": "k8s.pods",
    "EndpointSlice": "k8s.endpoints",
    "Endpoints": "k8s.endpoints",
    "Node": "k8s.nodes",
    "Ingress": "k8s.ingresses",
    "Event": "k8s.events",
    "NetworkPolicy": "k8s.networkpolicies",
    "TargetGroupBinding": "k8s.targetgroupbindings",
    "DaemonSet": "k8s.kube_proxy",
    "Deployment": "k8s.lbc",
}
# Kinds whose command is not their read's: all of the namespace's Services (K8S-SVC-EXISTS names the
# near misses from them), and the legacy Endpoints a refusal in the dump names.
_KIND_COMMANDS = {"Service": "kubectl get svc -n {ns} -o yaml", "Endpoints": "kubectl get endpoints -n {ns} -o yaml"}


def kind_command(state: State, kind: str, namespace: str | None = None) -> str:
    """The kubectl command(s) whose output holds `kind` for this diagnosis (`a; b` when two)."""
    if kind in _KIND_COMMANDS:
        return _KIND_COMMANDS[kind].format(ns=namespace or state.target.namespace)
    text = "; ".join(source(KIND_READS[kind]).dump)
    return text.format(ns=namespace or state.target.namespace, svc=state.target.service)


K8S_READS_FOR_DUMP = sorted(set(KIND_READS.values()) | {"k8s.namespace_pods", "k8s.services"})


class StdinSource:
    """`--from -`: the dump arrives on standard input (`kubectl get ... -o yaml | lbhealth ...`)."""

    stem = "stdin"

    def __str__(self) -> str:
        return "<stdin>"


Source = Path | StdinSource


def iter_files(paths: Iterable[str]) -> list[Source]:
    """Every file the arguments name: files as given, directories walked, `-` as standard input."""
    files: list[Source] = []
    for raw in paths:
        if raw == STDIN:
            if not any(isinstance(f, StdinSource) for f in files):
                files.append(StdinSource())
            continue
        p = Path(raw)
        try:
            if p.is_dir():
                files.extend(_dir_files(p))
            elif p.is_file():
                files.append(p)
            elif p.exists():
                raise DumpError(f"{raw}: not a regular file or a directory")
            else:
                raise DumpError(f"{raw}: no such file or directory")
        except PermissionError as exc:
            raise DumpError(f"{raw}: permission denied ({exc.strerror}); make it readable or copy it") from exc
        except NotADirectoryError as exc:  # "dump.yaml/": a file named as a directory
            raise DumpError(f"{raw}: not a directory (a file was named with a trailing /)") from exc
    return files


def _dir_files(directory: Path) -> list[Path]:
    files = []
    for child in sorted(directory.rglob("*")):
        rel = child.relative_to(directory).parts
        if child.is_file() and not any(part.startswith(".") for part in rel) and child.suffix.lower() != ".md":
            files.append(child)
    return files


def _read_text(source: Source) -> str:
    """The text of a file or of standard input, bounded, BOM stripped; errors name the source."""
    try:
        if isinstance(source, StdinSource):
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            if source.stat().st_size > MAX_FILE_BYTES:
                raise DumpError(_too_large(source))
            data = source.read_bytes()
    except PermissionError as exc:
        raise DumpError(f"{source}: permission denied; make it readable (chmod) or copy it") from exc
    except IsADirectoryError as exc:
        raise DumpError(f"{source}: is a directory; pass the directory itself to --from") from exc
    except OSError as exc:
        raise DumpError(f"{source}: cannot be read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise DumpError(_too_large(source))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DumpError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _too_large(source: Source) -> str:
    return f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it by namespace or kind"


def parse_documents(path: Source, skim: Skim | None = None) -> list[Any] | str:
    """JSON or (multi-document) YAML documents; plain text is returned as a string.

    With `skim`, a kubectl YAML List is built without the Pod items `skim` leaves out (yaml_list).
    """
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped[0] in "{[":
        try:
            with _gc_paused():
                return [json.loads(text)]
        except json.JSONDecodeError as exc:
            if not text[exc.pos :].strip():
                raise DumpError(
                    f"{path}: the JSON ends early (line {exc.lineno}): the file looks truncated; "
                    "save the command's whole output again"
                ) from exc
            raise DumpError(
                f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
    if _looks_like_describe(text):
        raise DumpError(f"{path}: {DESCRIBE_MESSAGE}")
    if _KUBECTL_ERROR.match(stripped) or _CLI_ERROR.match(stripped):
        return text  # a CLI's error saved instead of its output: a denied read (_load_text)
    if skim is not None and (docs := _skimmed(text, skim)) is not None:
        return docs
    try:
        with _gc_paused():
            docs = [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if _looks_like_text_output(text):
            return text
        raise DumpError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if docs and all(isinstance(d, str) for d in docs):
        return text
    return docs


def _skimmed(text: str, skim: Skim) -> list[Any] | None:
    """The documents of a List reduced by `skim`, or None to parse it whole."""
    skimmed = skim.reduce(text)
    if skimmed is None:
        return None
    try:
        with _gc_paused():
            docs = [d for d in yaml.load_all(skimmed.text, Loader=YAML_LOADER) if d is not None]
    except yaml.YAMLError:
        return None  # e.g. an alias whose anchor is in a left-out item: the whole parse decides
    skim.commit(skimmed)
    return docs


def skim_note(path: Source, errors: list[tuple[int, str]]) -> str:
    """What the report says of errors in the Pod items a skim left out (a full parse would refuse the file)."""
    line, problem = errors[0]
    more = f" (and {len(errors) - 1} more item(s))" if len(errors) > 1 else ""
    return (
        f"{path}: pods of other namespaces, which this diagnosis does not read, have errors a full parse refuses: "
        f"line {line}: {problem}{more}. The diagnosis did not use them; repair the file before relying on it elsewhere"
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a parser builds a tree of plain dicts and lists.

    Such trees hold no cycles, yet every few hundred allocations the collector re-scanned the
    growing tree: ~880 passes, 0.7 s of loading a 10,000-pod dump (bench/dump_size.py).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


DESCRIBE_MESSAGE = (
    "looks like `kubectl describe` output, which is not machine-readable; "
    "use `kubectl get ... -o yaml` (or -o json) instead"
)
# The first field lines `kubectl describe` prints for the kinds lbhealth reads.
_DESCRIBE_FIELDS = re.compile(
    r"^(Namespace|Labels|Annotations|Selector|Type|IP|Node|Status|Start Time|Priority|Service Account|"
    r"Roles|CreationTimestamp|Ingress Class|Default backend|Rules|Events):( |$)",
    re.MULTILINE,
)


def _looks_like_describe(text: str) -> bool:
    """`Name:  web` first, then describe's field lines: decided before YAML sees it (it may parse)."""
    head = text.lstrip()[:4000]
    first = head.split("\n", 1)[0]
    return bool(re.match(r"Name:\s+\S", first)) and len(_DESCRIBE_FIELDS.findall(head)) >= 2


def _looks_like_text_output(text: str) -> bool:
    head = text[:2000]
    return any(marker in head for marker in ("net.ipv4.", "*filter", ":FORWARD", "LISTEN", "Chain FORWARD"))


def load_state(
    target: Target, sources: list[str], options: dict[str, Any] | None = None, skim_lists: bool = False
) -> State:
    """The State of `target` from dump files.

    `skim_lists` (a diagnosis of `target` only): kubectl YAML Lists are built without the Pods of
    namespaces the diagnosis does not read (yaml_list); if a left-out pod's IP is named by what
    was loaded, everything is parsed again whole, so the State a check sees is the same.
    """
    state = State(target=target)
    state.options.update(options or {})
    state.options["offline"] = True
    state.options["probe"] = False
    seen_kinds: set[str] = set()
    # Each provider's recogniser of its CLI's output (checks/providers: `dump_module`), in registry order.
    clouds = [importlib.import_module(p.dump_module).Recogniser(state) for p in providers()]
    files = iter_files(sources)
    if not files:
        raise DumpError(f"no files found in {', '.join(sources)}")
    # Standard input cannot be read twice, as the fall-back to a whole parse would.
    skimmable = skim_lists and all(isinstance(f, Path) for f in files)
    skim = Skim(frozenset({target.namespace, "kube-system"})) if skimmable else None
    for path in files:
        docs = parse_documents(path, skim)
        if skim is not None and skim.errors:
            state.notes.append(skim_note(path, skim.errors))
            skim.errors = []
        if isinstance(docs, str):
            _load_text(state, path, docs, clouds)
            continue
        for doc in docs:
            _load_document(state, path, doc, seen_kinds, clouds)
    if skim is not None and skim.pods:
        seen_kinds.add("Pod")
    if not (seen_kinds or any(c.seen for c in clouds) or state.node_facts or state.k8s.logs or state.read_errors):
        # Empty files (a redirect that failed, `kubectl get` of nothing): a report would only skip.
        names = ", ".join(str(f) for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        raise DumpError(
            f"{names}: no Kubernetes objects, AWS CLI or tccli output in the dump (empty?); "
            f"start with `kubectl get svc,pods,endpointslices -n {target.namespace} -o yaml`"
        )
    for cloud in clouds:
        cloud.finish()  # responses that name their load balancer only through other files
    if skim is not None and skim.pods and skim.ips_named(_loaded_text(state)):
        return load_state(target, sources, options)  # a left-out pod may be asked for by IP
    _mark_reads(state, seen_kinds, clouds)
    return state


def _loaded_text(state: State) -> str:
    """Every value loaded (Kubernetes objects, cloud answers, node facts, logs) as one text."""
    return repr((state.k8s.objects, state.k8s.logs, state.aws, state.tencent, state.clouds, state.node_facts))


# `kubectl get` saved with its error (`> pods.yaml 2>&1`): the read was denied, not empty.
_KUBECTL_ERROR = re.compile(r"Error from server \((Forbidden|Unauthorized)\)")
_CLI_ERROR = re.compile(r"An error occurred \([\w.]+\) when calling the \w+ operation")  # the AWS CLI's
_FORBIDDEN = re.compile(
    r'^Error from server \(Forbidden\): .*?User "(?P<user>[^"]*)" cannot (?P<verb>[a-z]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<ns>[^"]*)")?',
    re.M,
)
_RESOURCE_KIND = {
    "services": "Service", "pods": "Pod", "endpointslices": "EndpointSlice", "endpoints": "Endpoints",
    "nodes": "Node", "ingresses": "Ingress", "events": "Event", "networkpolicies": "NetworkPolicy",
    "targetgroupbindings": "TargetGroupBinding", "daemonsets": "DaemonSet", "deployments": "Deployment",
}


def _load_denied(state: State, path: Source, text: str) -> None:
    """Record each read kubectl was refused (the dump's `Error from server (Forbidden)` lines) as denied."""
    found = list(_FORBIDDEN.finditer(text))
    if not found:
        first = text.strip().splitlines()[0][:300]
        raise DumpError(f"{path}: kubectl's error instead of its output ({first}); run the command again with access")
    for m in found:
        kind = _RESOURCE_KIND.get(m["resource"])
        if kind is None:
            continue
        read = KIND_READS[kind]
        where = f' in namespace {m["ns"]}' if m["ns"] else " cluster-wide"
        group = m["group"] or "core"
        state.read_errors[read] = (
            f'forbidden in the dump ({path}): {m["user"]} cannot {m["verb"]} {m["resource"]}{where}; grant RBAC '
            f'{m["verb"]} on {m["resource"]} (API group {group}), then add the output of '
            f"`{kind_command(state, kind, m['ns'])}`"
        )


def _load_text(state: State, path: Path, text: str, clouds: list[Any]) -> None:
    if _KUBECTL_ERROR.match(text.lstrip()):
        _load_denied(state, path, text)
        return
    if _CLI_ERROR.match(text.lstrip()):
        if not any(cloud.denied(path, text) for cloud in clouds):
            raise DumpError(f"{path}: the AWS CLI's error instead of its output ({text.strip()[:300]}); run it again with access")
        return
    facts = facts_from_text(text)
    if not facts and "\nNamespace:" in "\n" + text[:4000] and "Name:" in text[:4000]:
        raise DumpError(
            f"{path}: {DESCRIBE_MESSAGE}"
        )
    if not facts:
        raise DumpError(
            f"{path}: plain text that is not sysctl, iptables-save or netstat/ss output; "
            "expected kubectl -o yaml|json, AWS CLI JSON or tccli JSON"
        )
    node = facts.get("node") or path.stem  # a "# node: NAME" first line names it; else the file name
    state.node_facts.setdefault(node, {}).update(facts)


def _load_document(state, path, doc, seen_kinds, clouds) -> None:
    if not isinstance(doc, dict):
        raise DumpError(f"{path}: expected an object at the top level, found {type(doc).__name__}")
    if "Response" in doc and isinstance(doc["Response"], dict) and len(doc) == 1:
        doc = doc["Response"]  # raw Tencent API answer rather than tccli's
        if "Error" in doc:
            err = doc["Error"]
            if isinstance(err, dict) and any(cloud.denied(path, err) for cloud in clouds):
                return  # a refused read (CAM), recorded as such
            raise DumpError(
                f"{path}: a Tencent Cloud error response ({err.get('Code')}: {err.get('Message')}), not data"
            )
    kind = doc.get("kind")
    if kind is None and "apiVersion" in doc and isinstance(doc.get("items"), list):
        # kubectl prints a List's keys sorted: apiVersion, items, kind, metadata. No kind after
        # the items means the output was cut (a full disk, an interrupted copy, a paste).
        raise DumpError(
            f"{path}: a Kubernetes List without its closing `kind: List` (its {len(doc['items'])} items may be "
            "cut short): the file looks truncated; save the kubectl output again"
        )
    if isinstance(kind, str) and "apiVersion" in doc:
        if kind == "List" or (kind.endswith("List") and isinstance(doc.get("items"), list)):
            item_kind = kind[: -len("List")] if kind != "List" else None
            for item in doc.get("items") or []:
                if not isinstance(item, dict):
                    raise DumpError(f"{path}: a List item is not an object")
                if item_kind and "kind" not in item:
                    item = {**item, "kind": item_kind, "apiVersion": doc.get("apiVersion")}
                _add_k8s(state, path, item, seen_kinds)
            return
        if kind == "LbhealthLogs":
            for entry in doc.get("logs") or []:
                key = (entry["namespace"], entry["pod"], entry["container"], bool(entry.get("previous")))
                state.k8s.logs[key] = entry.get("text", "")
            state.reads_done.add("k8s.logs")
            return
        _add_k8s(state, path, doc, seen_kinds)
        return
    if wrong := document_problems(doc):  # a cloud CLI answer with a type the CLI never prints
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise DumpError(f"{path}: {wrong[0]}{more}")
    if any(cloud.load(path, doc) for cloud in clouds):
        return
    if "Name" in doc and ("Namespace" in doc or "Labels" in doc or "Selector" in doc):
        raise DumpError(
            f"{path}: {DESCRIBE_MESSAGE}"
        )
    keys = ", ".join(sorted(doc)[:8]) or "none"
    raise DumpError(
        f"{path}: not output lbhealth recognises (top-level keys: {keys}); expected kubectl -o yaml|json, "
        "AWS CLI JSON (elbv2/ec2 describe-*) or tccli JSON (clb/vpc/cvm Describe*)"
    )


def _add_k8s(state: State, path: Path, obj: dict[str, Any], seen_kinds: set[str]) -> None:
    if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
        raise DumpError(f"{path}: a {obj.get('kind', 'Kubernetes')} object without metadata.name")
    if wrong := field_type_problems(obj):
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise DumpError(f"{path}: {wrong[0]}{more}")
    state.k8s.add(obj)
    seen_kinds.add(obj["kind"])


def _mark_reads(state: State, seen_kinds: set[str], clouds: list[Any]) -> None:
    if "Service" in seen_kinds:  # only Services of the dump show that one is absent; nodes or pods do not
        state.reads_done.update({"k8s.service", "k8s.services"})
    system = {
        (o.get("kind"), o["metadata"].get("name"))
        for o in state.k8s.all_objects()
        if o["metadata"].get("namespace") == "kube-system"
    }
    if not any(k == "DaemonSet" and n == "kube-proxy" for k, n in system):
        seen_kinds.discard("DaemonSet")  # some other DaemonSet says nothing about kube-proxy
    if not any(k == "Deployment" and "load-balancer-controller" in (n or "") for k, n in system):
        seen_kinds.discard("Deployment")  # an app's Deployment says nothing about the controller
    if "k8s.service" not in state.reads_done:
        state.skipped_reads.setdefault("k8s.services", state.skipped_reads.get("k8s.service") or "the dump has no Service objects")
    for kind, read in KIND_READS.items():
        if kind in seen_kinds:
            state.reads_done.add(read)
        elif read not in state.reads_done:
            state.skipped_reads.setdefault(
                read, f"the dump has no {kind} objects (add the output of `{kind_command(state, kind)}`)"
            )
    for read in list(state.skipped_reads):
        if read in state.reads_done:
            del state.skipped_reads[read]
    for read in list(state.read_errors):
        if read in state.reads_done:  # another file of the dump holds what one kubectl call was refused
            del state.read_errors[read]
    if "k8s.pods" in state.reads_done:
        state.reads_done.add("k8s.namespace_pods")
    elif "k8s.pods" in state.skipped_reads:  # offline the namespace's pods are the same Pod objects
        state.skipped_reads["k8s.namespace_pods"] = state.skipped_reads["k8s.pods"]
    for p, cloud in zip(providers(), clouds, strict=True):
        state.reads_done.update(cloud.seen)
        for read in p.reads:
            if read not in cloud.seen:
                state.skipped_reads.setdefault(read, f"offline: the dump has no {p.dump_tool} output for this")
    state.skipped_reads["probe"] = "offline: probes need the live network"
    if state.node_facts:
        state.reads_done.add("node")
    else:
        state.skipped_reads["node"] = "offline: the dump has no node sysctl/iptables output"
