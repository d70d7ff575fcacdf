"""GET and PATCH of one object through the official client's ApiClient, with a per-request User-Agent.

Why `param_serialize` + `call_api` and not the typed `patch_namespaced_*` methods: the typed
methods choose the PATCH content type from the body's shape (the client turns a json-patch
content type into a strategic merge for a dict body), return models that rename fields
(snake_case), and take the User-Agent from `ApiClient.default_headers`, which is shared by
every thread of a worker. Here the content type is the plan's, the object stays in
`kubectl get -o json` shape (what the diff and the pre-image need), and the User-Agent is set
on the one request, so the API server's audit log names the fix, the approver and the job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.fixes.base import KUBE_KINDS, KubeWrite

TIMEOUT = (3.05, 30.0)  # (connect, read) seconds
_UA_UNSAFE = re.compile(r"[^A-Za-z0-9._:@+=/-]")


def user_agent(fix_id: str, approver: str, job_id: str) -> str:
    """`lbhealth-fix/FIX-ID (approver=U123; job=abc)`, header-safe and bounded."""

    def clean(text: str) -> str:
        return _UA_UNSAFE.sub("_", str(text or "-"))[:80]

    return f"lbhealth-fix/{clean(fix_id)} (approver={clean(approver)}; job={clean(job_id)})"


@dataclass
class KubeApiError(Exception):
    """A refused or failed call; `status` 0 means no HTTP answer (unreachable, timeout)."""

    status: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}" if self.status else self.message


class KubeClient:
    def __init__(self, api_client: Any, agent: str = "lbhealth-fix") -> None:
        self.api = api_client
        self.agent = agent

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", KUBE_KINDS[kind].path(namespace, name))

    def patch(self, write: KubeWrite, body: Any, *, dry_run: bool) -> dict[str, Any]:
        query = [("dryRun", "All")] if dry_run else []
        # fieldManager names lbhealth in managedFields, next to the User-Agent in the audit log
        query.append(("fieldManager", "lbhealth"))
        return self._call("PATCH", write.resource.path(write.namespace, write.name), query, body, write.content_type)

    def _call(self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None, content_type: str | None = None) -> dict[str, Any]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        method, url, headers, body, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        headers["User-Agent"] = self.agent  # after param_serialize, which copies the shared default in
        try:
            resp = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=TIMEOUT)
            data = resp.read()
        except urllib3.exceptions.HTTPError as exc:
            raise KubeApiError(0, "Unreachable", f"the Kubernetes API at {self.api.configuration.host} cannot be reached: {exc}") from exc
        except ApiException as exc:  # the client raises it (status 0) for TLS errors
            raise KubeApiError(int(exc.status or 0), "Error", str(exc.reason or exc)) from exc
        try:
            doc = json.loads(data or b"null")
        except ValueError:
            doc = None
        if not 200 <= resp.status < 300:
            status = doc if isinstance(doc, dict) else {}
            raise KubeApiError(resp.status, str(status.get("reason") or resp.reason), str(status.get("message") or (data or b"")[:300]))
        if not isinstance(doc, dict):
            raise KubeApiError(resp.status, "BadResponse", "the API server answered with something that is not a JSON object")
        return doc
