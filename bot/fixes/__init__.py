"""The only code that writes to a cluster or a cloud.

- `registry.FIXES`: FIX-* ID -> module (permissions, originating checks, `write(plan)`)
- `engine.preview / apply / rollback / verify`: the write protocol (dry run, optimistic
  concurrency, pre-image, verification), shared by the Slack worker and `lbhealth fix`
- `audit`: the append-only record (Redis stream + JSON log line) of every fix event
"""
