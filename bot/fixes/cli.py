"""`lbhealth fix` and `lbhealth audit`: the fix engine for a person at a terminal, and the audit record.

`lbhealth fix NS/SVC FIX-ID` diagnoses with the person's own kube context, takes the fix plan
of the finding that offers FIX-ID, shows the server-side dry-run diff, asks on a TTY (or takes
--yes), applies it through the same engine as the Slack worker, and verifies.

Exit codes as `diagnose`: 0 applied and verified, 1 still failing (not applied, refused, a
conflict, or the verification failed), 2 bad input (unknown fix, a fix not offered for this
Service, no TTY to confirm on without --yes), 3 could not run (API unreachable, permission denied).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

EXIT_OK, EXIT_FAILING, EXIT_BAD_INPUT, EXIT_CANNOT_RUN = 0, 1, 2, 3


def add_parsers(sub: Any) -> None:
    fx = sub.add_parser(
        "fix",
        help="apply one fix to a Service (dry-run diff, confirm, apply, verify)",
        description="Diagnose the Service, show the server-side dry-run diff of FIX-ID, confirm, apply it and verify.",
    )
    fx.add_argument("service", metavar="[NAMESPACE/]SERVICE")
    fx.add_argument("fix_id", metavar="FIX-ID", help="a FIX-* ID the diagnosis offers (see `lbhealth checks`)")
    fx.add_argument("-n", "--namespace", help="namespace (default: the one in NAMESPACE/SERVICE, else 'default')")
    fx.add_argument("--cluster", help="a cluster named in LBHEALTH_CONFIG")
    fx.add_argument("--context", help="kube context (default: current context)")
    fx.add_argument("--dry-run", action="store_true", help="show the diff only; write nothing")
    fx.add_argument("--yes", action="store_true", help="apply without asking (needed when stdin is not a TTY)")
    fx.add_argument("--no-probe", action="store_true", help="do not send health-check probes while diagnosing")

    au = sub.add_parser("audit", help="read the audit record of fixes (requests, approvals, applies, ...)")
    au.add_argument("--since", help="30m, 12h, 7d or an ISO time (default: everything)")
    au.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    au.add_argument("--limit", type=int, default=1000, help="at most this many entries (default 1000)")


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _audit_redis() -> tuple[Any, str]:
    """The audit stream's Redis (REDIS_URL, with REDIS_PASSWORD, TLS or Sentinel as the bot's), or None and why not."""
    import redis

    from bot.redis_ha import connect
    from bot.settings import get_settings

    try:
        client = connect(get_settings(), socket_connect_timeout=2, socket_timeout=5)
        client.ping()
        return client, ""
    except (redis.RedisError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def cmd_audit(args: argparse.Namespace) -> int:
    from bot.fixes import audit

    try:
        since = audit.parse_since(args.since)
    except ValueError as exc:
        _say(f"lbhealth: {exc}")
        return EXIT_BAD_INPUT
    client, why = _audit_redis()
    if client is None:
        _say(f"lbhealth: could not read the audit stream: Redis at REDIS_URL is not reachable ({why})")
        return EXIT_CANNOT_RUN
    entries = audit.read(client, since, count=max(1, min(args.limit, 100_000)))
    print((audit.format_json if args.format == "json" else audit.format_text)(entries), end="")
    return EXIT_OK


def _context(args: argparse.Namespace) -> tuple[str | None, bool]:
    from bot.settings import ConfigError, get_settings

    settings = get_settings()
    cluster = settings.cluster(args.cluster) if (args.cluster or not args.context) else None
    context = args.context or (cluster.context if cluster else None)
    if cluster and cluster.sources and not args.context:
        raise ConfigError(f"cluster '{cluster.name}' is read from dump files: a fix needs a live cluster (pass --context)")
    return context, settings.file_config().cloud_writes


def _offered(report: Any, fix_id: str) -> Any:
    from checks.model import Status

    for f in report.findings:
        if f.fix and f.fix.id == fix_id and f.status in (Status.FAIL, Status.WARN):
            return f
    return None


def cmd_fix(args: argparse.Namespace) -> int:
    from bot.fixes import engine, registry
    from bot.fixes.model import FixContext
    from bot.settings import ConfigError
    from checks.collect.errors import CollectError
    from checks.collect.live import Clients
    from checks.model import InvalidTarget, Target
    from checks.runner import diagnose

    if args.fix_id not in registry.FIXES:
        _say(f"lbhealth: unknown fix {args.fix_id!r}; known: {', '.join(sorted(registry.FIXES))}")
        return EXIT_BAD_INPUT
    try:
        target = Target.parse(args.service, args.namespace, args.cluster)
        context, cloud_writes = _context(args)
        ctx = FixContext(clients=Clients(context=context), cloud_writes=cloud_writes, probe=not args.no_probe)
        report, _ = diagnose(target, context=context, probe=ctx.probe, clients=ctx.clients)
    except (InvalidTarget, ConfigError) as exc:
        _say(f"lbhealth: {exc}")
        return EXIT_BAD_INPUT
    except CollectError as exc:
        _say(f"lbhealth: could not run: {exc}")
        return EXIT_CANNOT_RUN
    finding = _offered(report, args.fix_id)
    if finding is None:
        offered = sorted({f.fix.id for f in report.findings if f.fix and f.failing})
        _say(f"lbhealth: {args.fix_id} is not offered for {target.ref}: the diagnosis "
             + (f"offers {', '.join(offered)}" if offered else "offers no fix") + f" (verdict: {report.verdict.summary})")
        return EXIT_BAD_INPUT
    try:
        p = engine.preview(finding.fix, target, ctx, check_id=finding.check_id)
    except engine.FixError as exc:
        _say(f"lbhealth: {exc.message}")
        return {"invalid-plan": EXIT_BAD_INPUT, "drift": EXIT_FAILING, "noop": EXIT_FAILING}.get(exc.reason, EXIT_CANNOT_RUN)
    _show(finding, p)
    if args.dry_run:
        _say("dry run: nothing was written")
        return EXIT_FAILING
    if not args.yes:
        if not sys.stdin.isatty():
            _say("lbhealth: refusing to apply without confirmation: stdin is not a terminal. Re-run with --yes to apply")
            return EXIT_BAD_INPUT
        answer = input(f"Apply {p.fix_id} to {p.object['kind']} {p.object.get('namespace') or ''}/{p.object['name']}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            _say("not applied")
            return EXIT_FAILING
    return _apply_and_verify(p, ctx, "--yes" if args.yes else "confirmed on a terminal")


def _show(finding: Any, p: Any) -> None:
    print(f"{finding.check_id}: {finding.summary}")
    print(f"fix: {p.fix_id}: {p.title}")
    if p.tradeoff:
        print(f"trade-off: {p.tradeoff}")
    print(p.diff, end="" if p.diff.endswith("\n") else "\n")
    print(f"by hand: {p.command}")
    print(f"digest: {p.digest}")


def _apply_and_verify(p: Any, ctx: Any, how: str) -> int:
    from bot.fixes import audit, engine

    redis_client, why = _audit_redis()
    ctx.redis = redis_client
    if redis_client is None:
        _say(f"note: the audit stream (REDIS_URL) is not reachable ({why}); this change is recorded only by the API server's "
             "audit log, under the User-Agent lbhealth-fix/...")
    who = f"{getpass.getuser()}@terminal"
    job_id = f"cli-{uuid.uuid4().hex[:12]}"
    try:
        audit.record(ctx.redis, "approval", who=who, fix_id=p.fix_id, target=p.target_ref, digest=p.digest, result=how, job_id=job_id)
    except Exception as exc:  # redis.RedisError: nothing is written that cannot be recorded
        _say(f"lbhealth: could not record the approval in the audit stream ({type(exc).__name__}: {exc}); nothing was written")
        return EXIT_CANNOT_RUN
    out = engine.apply(p, who, job_id, ctx)
    print(out.message)
    if out.status in ("refused", "conflict", "command"):
        return EXIT_FAILING
    if out.status != "applied":
        return EXIT_CANNOT_RUN
    _say("verifying: re-diagnosis, then target health until healthy or the load balancer's interval x healthy threshold + margin ...")
    v = engine.verify(p, ctx, who=who, job_id=job_id)
    print(v.message)
    return EXIT_OK if v.ok else EXIT_FAILING
