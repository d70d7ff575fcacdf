"""The only code that writes to a cluster or a cloud.

- `registry.FIXES`: FIX-* ID -> module (ID, TITLE, CLOUD, CHECKS, PERMISSIONS, `write(plan, now)`)
- `engine.preview / apply / rollback / verify`: the write protocol (dry run, optimistic
  concurrency, pre-image, verification), shared by the Slack worker and `lbhealth fix`
- `audit`: the append-only record (Redis stream + JSON log line) of every fix event

A caller (the Slack worker, the CLI) goes::

    ctx = FixContext(clients=Clients(k8s=reader), writer=writer_client, cloud_writes=policy_says, redis=redis)
    p = engine.preview(finding.fix, report.target, ctx, check_id=finding.check_id, who=user, job_id=job)
    record = p.to_dict()                       # keep it; p.digest binds an approval to what was shown
    out = engine.apply(record, approver, job_id, ctx)          # refuses a record whose digest does not match
    if out.status == "applied":
        v = engine.verify(Preview.from_dict(record), ctx, who=approver, job_id=job_id)
    back = engine.rollback(out.to_dict(), approver, job_id, ctx)   # later, after its own approval

`apply` never raises for an expected refusal (drift, the check passes now, 409, 403): the
Outcome's status and message say what happened and what to do.
"""
