"""Skim a `kubectl get pods -A -o yaml` List: build only the items one diagnosis can use.

Why this exists: PyYAML, even with libyaml (`CSafeLoader`), builds every node in Python, about
3-4 MB/s here; a 10,000-pod List (37 MB) took 13.4 s, 41x the small dump (bench/dump_size.py,
bar 4x). No faster parser reads YAML 1.1 exactly as PyYAML's safe loader does (yaml-rs follows
YAML 1.2 and makes datetimes; rapidyaml left aliases unresolved), so the items are split as text
and only the ones a diagnosis of NAMESPACE/SERVICE may read go to the same loader: 0.62 s
(1.7x) for the same dump, of which splitting and reading the skipped items' headers is ~0.2 s.

What a diagnosis reads of Pods (checks/, by grep): the target namespace's pods, kube-system's
(kube-proxy), and any pod by IP (`State.pod_by_ip`, for a load balancer's targets and endpoint
addresses). Every other kind is always built. So only Pod items of other namespaces are left
out, and only when they are recognised exactly; their pod IPs are kept (none for host-network
pods, which `pod_by_ip` passes over), and the caller parses everything again if any of those IPs
is named anywhere in what was loaded (see `Skim.ips_named`).

Exactness rests on kubectl's YAML form, checked strictly, else None (the caller parses all):
the text is `apiVersion: v1`, `items:`, the items, `kind: List`, `metadata:` with an empty
`resourceVersion`; no CR; every line of the items is empty, starts an item (`- ` at column 0)
or is indented. A block scalar's lines are indented past their key, so `- ` at column 0 is an
item's start.

A left-out item is not parsed, so an error inside it would go unseen where a full parse refuses
the file. The left-out items are therefore searched (regular expressions, in C: ~0.25 s of CPU
on bench/dump_size.py's 10,000 pods) for what kubectl never prints and YAML may reject: a tab,
an odd indentation, a line without `:` that is no list entry (a lost colon), a quote not closed
on its line, an integer or boolean field the checks read holding something else. Only such
items are parsed, alone, and what a full parse would refuse in them (YAML errors, field types)
is kept in `Skim.errors` with the file's line, for the report to say. Damage of another form
inside a left-out item (`: ` inside a plain value, a deleted line that leaves valid YAML) is
still not reported.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

import yaml

HEAD = "apiVersion: v1\nitems:\n"
TAILS = ('kind: List\nmetadata:\n  resourceVersion: ""\n', "kind: List\nmetadata:\n  resourceVersion: ''\n")
# Patterns start with a newline rather than `^` (MULTILINE): re then skips to newlines, ~4x faster on 37 MB.
# A line of the items that is not empty, not an item's start and not indented.
_STRAY_LINE = re.compile(r"\n(?:[^- \n]|-(?! )| (?! ))")
_ITEM_START = re.compile(r"\n- ")
_POD_HEAD = "- apiVersion: v1\n  kind: Pod\n  metadata:\n"
_NEXT_FIELD = re.compile(r"\n  [^ ]")  # a field of the item (indent 2) ends a section
_NAMESPACE = re.compile(r"\n    namespace: (.*)")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_IP = r"[0-9A-Fa-f.:]+"
_POD_IP = re.compile(rf"\n    podIP: ({_IP})(?=\n)")
_POD_IPS = re.compile(rf"\n    podIPs:\n((?:    - ip: {_IP}\n)*)")
_LIST_GOES_ON = re.compile(r"    - |     ")  # podIPs entries with more than `ip`
_IPV4_RUN = re.compile(r"[0-9.]+")
_STR_TAG = "tag:yaml.org,2002:str"
# What kubectl never prints in a Pod item and YAML may reject (module docstring). Separate patterns,
# most with a literal start, search 37 MB in ~0.25 s; one alternation of all of them took 3x as
# long, and a test for `: ` inside plain values alone cost more than all of these together.
_SUSPECT = tuple(
    re.compile(p)
    for p in (
        r"\t",
        # odd indentation (kubectl indents by two), or a line without ':' that is no list entry (a lost colon)
        r"\n(?:  )*+(?: (?! )|[^\s:'\"#\-][^\n:]*+\n)",
        r": '(?:[^'\n]|'')*+\n",  # a quote not closed on its line
        r': "(?:[^"\\\n]|\\.)*+\n',
        r"containerPort: (?![0-9]++\n)",  # fields the checks read, of another type
        r"restartCount: (?![0-9]++\n)",
        r"Seconds: (?![0-9]++\n)",
        r"ready: (?!(?:true|false)\n)",
        r"hostNetwork: (?!(?:true|false)\n)",
    )
)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()  # PyYAML's own YAML 1.1 implicit types (the safe loader's)


@dataclass
class Skimmed:
    """A List reduced to the items to build, and what was left out."""

    text: str
    pods: int
    ips: set[str]
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line in the file, what a full parse refuses)


@dataclass
class Skim:
    """Pods of `namespaces` are built; the Pod items of other namespaces left out so far."""

    namespaces: frozenset[str]
    pods: int = 0
    ips: set[str] = field(default_factory=set)
    errors: list[tuple[int, str]] = field(default_factory=list)  # of the last List committed

    def reduce(self, text: str) -> Skimmed | None:
        """The List without other namespaces' Pod items, or None when `text` is not kubectl's plain List."""
        items = split_items(text)
        if items is None:
            return None
        kept, pods, ips = [], 0, set()
        starts, left_out = [], []
        offset = len(HEAD)
        for chunk in items:
            starts.append(offset)
            offset += len(chunk)
            ns = pod_namespace(chunk)
            chunk_ips = pod_ips(chunk) if ns is not None and ns not in self.namespaces else None
            if chunk_ips is None:
                kept.append(chunk)
            else:
                pods += 1
                ips |= chunk_ips
                left_out.append(len(starts) - 1)
        if not pods:
            return None
        tail = next(t for t in TAILS if text.endswith(t))
        head = HEAD if kept else "apiVersion: v1\nitems: []\n"
        errors = _left_out_errors(text, items, starts, set(left_out))
        return Skimmed(text=head + "".join(kept) + tail, pods=pods, ips=ips, errors=errors)

    def commit(self, skimmed: Skimmed) -> None:
        """Count a reduced List as loaded (only once its kept items parsed)."""
        self.pods += skimmed.pods
        self.ips |= skimmed.ips
        self.errors = skimmed.errors

    def ips_named(self, loaded: str) -> bool:
        """Whether a left-out pod's IP occurs in `loaded` (the text of everything loaded).

        `pod_by_ip` is asked only for addresses read from loaded objects and cloud answers
        (targets, endpoint addresses); an IPv4 address is compared with each run of digits and
        dots, so `10.0.1.5:8080` names 10.0.1.5. Other addresses are looked for as substrings.
        """
        v4 = {ip for ip in self.ips if ":" not in ip}
        if v4 & set(_IPV4_RUN.findall(loaded)):
            return True
        return any(ip in loaded for ip in self.ips - v4)


def _left_out_errors(text: str, items: list[str], starts: list[int], left_out: set[int]) -> list[tuple[int, str]]:
    """(line in the file, problem) of each left-out item that a full parse would refuse, in file order."""
    suspects: set[int] = set()
    body_end = starts[-1] + len(items[-1])
    for pattern in _SUSPECT:
        for m in pattern.finditer(text, starts[0] - 1, body_end):
            i = bisect.bisect_right(starts, m.start() + (1 if m.group().startswith("\n") else 0)) - 1
            if i in left_out:
                suspects.add(i)
    errors = []
    for i in sorted(suspects):
        if problem := item_problem(items[i]):
            errors.append((text.count("\n", 0, starts[i]) + 1 + problem[0], problem[1]))
    return errors


def item_problem(chunk: str) -> tuple[int, str] | None:
    """What a full parse would refuse in one item: (line within the item, 0-based; the message)."""
    from checks.collect.fieldtypes import field_type_problems

    try:
        loaded = yaml.load(chunk, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return (mark.line if mark else 0), f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
    item = loaded[0] if isinstance(loaded, list) and loaded else None
    wrong = field_type_problems(item) if isinstance(item, dict) else []
    return (0, wrong[0]) if wrong else None


def split_items(text: str) -> list[str] | None:
    """The item texts of a List in kubectl's form (each starting `- `), or None if not that form."""
    tail = next((t for t in TAILS if text.endswith(t)), None)
    if not text.startswith(HEAD) or tail is None or "\r" in text:
        return None
    body = text[len(HEAD) : len(text) - len(tail)]
    if not body.startswith("- ") or not body.endswith("\n") or _STRAY_LINE.search(body):
        return None
    starts = [0] + [m.start() + 1 for m in _ITEM_START.finditer(body)] + [len(body)]
    return [body[a:b] for a, b in zip(starts, starts[1:], strict=False)]


def pod_namespace(chunk: str) -> str | None:
    """A Pod item's namespace when the item has kubectl's exact header and one plain namespace line."""
    if not chunk.startswith(_POD_HEAD):
        return None
    end = _NEXT_FIELD.search(chunk, len(_POD_HEAD) - 1)
    found = _NAMESPACE.findall(chunk, len(_POD_HEAD) - 1, end.start() if end else len(chunk))
    if len(found) != 1 or not _DNS_LABEL.fullmatch(found[0]):
        return None
    if _RESOLVER.resolve(yaml.ScalarNode, found[0], (True, False)) != _STR_TAG:
        return None  # a namespace such as `yes` or `123` would load as another type
    return found[0]


def pod_ips(chunk: str) -> set[str] | None:
    """The IPs `State.pod_by_ip` may find a Pod item by, or None unless they are in kubectl's form.

    status.podIP and status.podIPs; none for a pod with `hostNetwork: true` (its IPs are its
    node's, and `pod_by_ip` passes over such pods).
    """
    if "hostNetwork" in chunk:
        return set() if _host_network(chunk) else None
    start = chunk.find("\n  status:\n")
    if start < 0:
        return None if "podIP" in chunk else set()
    end = _NEXT_FIELD.search(chunk, start + len("\n  status:"))
    status = chunk[start : end.start() + 1 if end else len(chunk)]
    single = _POD_IP.findall(status)
    lists = [m for m in _POD_IPS.finditer(status) if not _LIST_GOES_ON.match(status, m.end())]
    if chunk.count("podIP") != len(single) + len(lists):
        return None
    ips = set(single)
    for m in lists:
        ips.update(line[len("    - ip: ") :] for line in m.group(1).splitlines())
    return ips


def _host_network(chunk: str) -> bool:
    """Whether the item's one `hostNetwork` is spec's, set to `true`."""
    start = chunk.find("\n  spec:\n")
    end = _NEXT_FIELD.search(chunk, start + len("\n  spec:")) if start >= 0 else None
    spec = chunk[start : end.start() + 1 if end else len(chunk)] if start >= 0 else ""
    return chunk.count("hostNetwork") == 1 and "\n    hostNetwork: true\n" in spec
