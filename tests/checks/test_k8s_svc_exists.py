"""K8S-SVC-EXISTS: the Service is found, or close names are suggested."""

from checks.model import Status
from tests.factories import make_state, run_check, service

ID = "K8S-SVC-EXISTS"


def test_passes_when_the_service_exists():
    [f] = run_check(ID, make_state(service()))
    assert f.status == Status.PASS
    assert "shop/web exists" in f.summary
    assert "Service shop/web spec.selector = app=web" in f.evidence


def test_not_found_suggests_close_names_here_and_elsewhere():
    state = make_state(
        service("web-frontend"),
        service("wbe"),
        service("db"),
        service("web", namespace="staging"),
        service("webb", namespace="prod"),
    )
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "not found" in f.summary and "did you mean" in f.summary
    text = "\n".join(f.evidence)
    assert "No Service named 'web' in namespace shop" in text
    assert "Close names in shop: " in text and "wbe" in text and "web-frontend" in text
    assert "exists in namespace(s): staging" in text
    assert "prod/webb" in text
    assert "db" not in text.split("Close names in shop: ")[1].split("\n")[0]
    assert f.next_step.startswith("Diagnose ") and "/lbhealth" not in f.next_step  # read in Slack and in a terminal


def test_not_found_without_any_similar_name():
    [f] = run_check(ID, make_state(service("database")))
    assert f.status == Status.FAIL
    assert "no Service with a similar name" in f.summary
    assert "kubectl get svc -A" in f.next_step


def test_says_when_other_namespaces_were_not_searched():
    state = make_state(service("api"))
    state.reads_done.discard("k8s.services")
    state.skipped_reads["k8s.services"] = "forbidden: cannot list services at the cluster scope"
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert any("Other namespaces were not searched: forbidden" in e for e in f.evidence)


def test_error_names_the_failed_read():
    state = make_state()
    state.read_errors["k8s.service"] = 'forbidden: User "lbhealth" cannot get resource "services" in namespace "shop"'
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
    assert "cannot get resource" in f.summary
    assert "RBAC verb get on resource services" in f.next_step
    assert f.evidence[0].startswith("get Service shop/web: forbidden") and "k8s.service" not in " ".join(f.evidence)  # no read name


def test_skip_when_not_read():
    [f] = run_check(ID, make_state(reads=set()))
    assert f.status == Status.SKIP
    assert "not read in this diagnosis" in f.summary


def test_exact_name_in_another_namespace_is_suggested_first():
    [f] = run_check(ID, make_state(service("web-frontend"), service("web", namespace="staging")))
    assert f.summary == "Service shop/web not found; did you mean staging/web, shop/web-frontend?"
    assert "Diagnose staging/web" in f.next_step and "kubectl get svc web -n staging" in f.next_step
