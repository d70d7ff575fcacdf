"""K8S-POD-READY: pods not Running / not ready, with the reason and the previous log."""

from checks.model import Status
from tests.factories import container, make_state, pod, run_check, service

ID = "K8S-POD-READY"


def test_passes_when_all_pods_ready():
    [f] = run_check(ID, make_state(service(selector={"app": "web"}), pod("web-1"), pod("web-2", ip="127.0.0.3")))
    assert f.status == Status.PASS
    assert "All 2 pods" in f.summary
    assert "Pod shop/web-1 Running and ready" in f.evidence


def test_crashloop_with_oomkilled_and_previous_log_tail():
    p = pod("web-1", ready=False, restarts=7, waiting_reason="CrashLoopBackOff", last_terminated_reason="OOMKilled")
    state = make_state(service(), p, pod("web-2", ip="127.0.0.3"))
    state.k8s.logs[("shop", "web-1", "app", True)] = "starting\nloading cache\nline3\nline4\nline5\nfatal: out of memory\n"
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert f.cause == "pods-not-ready"
    assert "1 of 2 pods" in f.summary
    assert "CrashLoopBackOff (last exit: OOMKilled)" in f.summary
    text = "\n".join(f.evidence)
    assert "restartCount = 7, lastState.terminated = OOMKilled, exit code 137" in text
    assert "Previous log of shop/web-1 container app (last 5 lines):" in text
    assert "  | fatal: out of memory" in text
    assert "  | starting" not in text  # only the tail
    assert f.next_step.startswith("kubectl logs web-1 -n shop --previous  (it ran out of memory")  # one command, then why
    assert ";" not in f.next_step
    assert "app-error" in f.supports


def test_a_crashing_container_beside_a_sidecar_is_named_in_the_logs_command():
    """kubectl logs refuses a pod of several containers without -c."""
    p = pod("web-1", ready=False, restarts=3, waiting_reason="CrashLoopBackOff", last_terminated_reason="Error",
            containers=[container(name="istio-proxy"), container(name="app")])
    p["status"]["containerStatuses"][0].update(state={"running": {"startedAt": "2026-11-21T10:00:00Z"}}, ready=True, restartCount=0)
    p["status"]["containerStatuses"][0].pop("lastState")
    [f] = run_check(ID, make_state(service(), p))
    assert f.next_step.startswith("kubectl logs web-1 -n shop -c app --previous"), f.next_step


def test_image_pull_backoff():
    p = pod("web-1", ready=False, waiting_reason="ImagePullBackOff")
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.FAIL
    assert "ImagePullBackOff" in f.summary
    assert "image" in f.next_step


def test_pending_shows_scheduler_reason():
    p = pod(
        "web-1",
        phase="Pending",
        ready=False,
        node="",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ],
    )
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.FAIL
    assert "0/3 nodes are available: 3 Insufficient cpu." in f.summary
    assert any("PodScheduled = False, reason=Unschedulable" in e for e in f.evidence)


def test_running_but_readiness_failing():
    p = pod("web-1", ready=False)
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.FAIL
    assert "running but not ready (readiness probe failing)" in f.summary
    assert "kubectl describe pod web-1 -n shop" in f.next_step


def test_ready_but_restarting_warns_with_last_reason():
    p = pod("web-1", restarts=5, last_terminated_reason="Error")
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.WARN
    assert "5 restarts" in f.summary and "Error" in f.summary
    assert f.cause == ""


def test_one_old_restart_is_not_a_warning():
    p = pod("web-1", restarts=1, last_terminated_reason="Error")
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.PASS
    assert "(1 restarts)" in f.evidence[0]


def test_readiness_gate_only_is_a_warning_not_a_cause():
    gate = "target-health.elbv2.k8s.aws/k8s-shop-web-0123456789"
    p = pod(
        "web-1",
        readiness_gates=[gate],
        conditions=[
            {"type": "Ready", "status": "False", "message": "corresponding condition of pod readiness gate does not exist"},
            {"type": "ContainersReady", "status": "True"},
        ],
    )
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.WARN
    assert "load balancer has not marked them healthy" in f.summary
    assert gate in f.summary


def test_odd_input_does_not_crash():
    p = pod("web-1", containers=[container(ports=[])])
    p["status"] = {"phase": "Running", "containerStatuses": [{"name": "app", "restartCount": "x", "ready": None}], "conditions": None}
    [f] = run_check(ID, make_state(service(), p), odd=True)
    assert f.status == Status.FAIL
    assert "web-1" in f.summary


def test_skip_when_no_pod_selected_and_error_when_forbidden():
    [f] = run_check(ID, make_state(service(selector={"app": "other"}), pod("web-1")))
    assert f.status == Status.SKIP and "K8S-SELECTOR" in f.summary
    state = make_state(service())
    state.read_errors["k8s.pods"] = "forbidden: cannot list pods in namespace shop"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
    assert "Grant RBAC verb 'list' on 'pods' in namespace shop" in f.next_step


def test_multi_line_scheduler_message_stays_one_line_in_the_summary():
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/2 nodes are available:\n 1 node(s) had untolerated taint,\n 1 Insufficient memory."}
    p = pod("web-1", phase="Pending", ready=False, node="", conditions=[cond])
    [f] = run_check(ID, make_state(service(), p))
    assert "\n" not in f.summary
    assert "0/2 nodes are available: 1 node(s) had untolerated taint, 1 Insufficient memory." in f.summary
