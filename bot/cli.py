"""`lbhealth`: diagnose | checks | snapshot | serve | worker | fix | audit.

Exit codes of `diagnose`: 0 no failing finding, 1 a failing finding, 2 bad input (a clear
message, never a traceback), 3 could not run (the API cannot be reached, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_FAILING, EXIT_BAD_INPUT, EXIT_CANNOT_RUN = 0, 1, 2, 3

DESCRIPTION = """\
Diagnose failing load-balancer health checks for a Kubernetes Service on AWS (ALB/NLB)
or Tencent Cloud (CLB): root cause first, with evidence and the fix.

examples:
  lbhealth diagnose shop/web                       live, current kube context and cloud credentials
  lbhealth diagnose web -n shop --context prod --no-probe
  lbhealth diagnose shop/web --from dump/          offline, from kubectl/aws/tccli output
  lbhealth diagnose shop/web --format json         one JSON object (see README)
  lbhealth checks                                  the catalogue of checks and fixes
  lbhealth snapshot shop/web -o dump/              save what a live diagnosis reads
  lbhealth fix shop/web FIX-TARGETPORT --dry-run   the server-side dry-run diff of a fix (drop --dry-run to apply)
  lbhealth audit --since 24h                       every fix request, approval, apply, rollback, verification
  lbhealth serve                                   the Slack bot and alarm webhooks (HTTP)
  lbhealth worker --concurrency 4                  diagnosis workers (Redis queue)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbhealth", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser(
        "diagnose",
        help="diagnose one Service",
        description="Diagnose one Service's load-balancer health checks.",
    )
    d.add_argument("service", metavar="[NAMESPACE/]SERVICE")
    d.add_argument(
        "-n", "--namespace", help="namespace (default: 'default', or the one in NAMESPACE/SERVICE)"
    )
    d.add_argument("--cluster", help="a cluster named in LBHEALTH_CONFIG")
    d.add_argument("--context", help="kube context (default: current context, or in-cluster)")
    d.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        metavar="PATH",
        help="read state from dump files/directories instead of live APIs",
    )
    d.add_argument("--format", choices=("text", "json", "slack"), default="text")
    d.add_argument("--no-probe", action="store_true", help="do not send health-check probes to pods/nodes")
    d.add_argument(
        "--node", action="store_true", help="also run node checks (starts a short-lived pod per target node)"
    )
    d.add_argument("--only", metavar="IDS", help="comma-separated check IDs to run")

    c = sub.add_parser("checks", help="list the catalogue of checks and fixes")
    c.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    s = sub.add_parser("snapshot", help="write what a live diagnosis reads, for --from")
    s.add_argument("service", metavar="[NAMESPACE/]SERVICE")
    s.add_argument("-n", "--namespace")
    s.add_argument("--cluster")
    s.add_argument("--context")
    s.add_argument("-o", "--output", required=True, metavar="DIR")
    s.add_argument("--no-probe", action="store_true")

    sv = sub.add_parser("serve", help="run the Slack bot and webhooks")
    sv.add_argument("--host", default="0.0.0.0")
    sv.add_argument("--port", type=int, default=3000)
    sv.add_argument(
        "--socket-mode",
        action="store_true",
        help="connect to Slack over Socket Mode (SLACK_APP_TOKEN) instead of HTTP",
    )

    w = sub.add_parser("worker", help="run diagnosis workers")
    w.add_argument("--concurrency", type=int, default=1)
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")

    from bot.fixes.cli import add_parsers as add_fix_parsers

    add_fix_parsers(sub)  # fix, audit
    return parser


def _fail(message: str, code: int) -> int:
    print(f"lbhealth: {message}", file=sys.stderr)
    return code


def _resolve(args: argparse.Namespace):
    """Target plus where to read from (config cluster -> context or offline sources)."""
    from bot.settings import get_settings
    from checks.model import Target

    target = Target.parse(args.service, args.namespace, args.cluster)
    context = args.context
    sources = getattr(args, "sources", None)
    probe = not args.no_probe
    settings = get_settings()
    if args.cluster or (not context and not sources):
        cluster = settings.cluster(args.cluster)
        if cluster:
            context = context or cluster.context
            sources = sources or (cluster.sources or None)
            probe = probe and cluster.probe
    return target, context, sources, probe, settings.file_config().severity or None


def cmd_diagnose(args: argparse.Namespace) -> int:
    from bot import render
    from bot.settings import ConfigError
    from checks.collect.dump import DumpError
    from checks.collect.errors import CollectError
    from checks.model import InvalidTarget, Status
    from checks.runner import diagnose

    try:
        target, context, sources, probe, severity = _resolve(args)
        only = [x.strip() for x in args.only.split(",")] if args.only else None
        if only:
            from checks.registry import default_registry

            registry = default_registry()
            unknown = [x for x in only if x not in registry]
            if unknown:
                return _fail(
                    f"unknown check ID(s): {', '.join(unknown)} (see `lbhealth checks`)", EXIT_BAD_INPUT
                )
        report, _state = diagnose(
            target,
            sources=sources,
            context=context,
            probe=probe,
            node=args.node,
            only=only,
            severity=severity,
        )
    except (InvalidTarget, DumpError, ConfigError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except CollectError as exc:
        return _fail(f"could not run: {exc}", EXIT_CANNOT_RUN)

    if args.format == "json":
        print(render.render_json(report))
    elif args.format == "slack":
        print(json.dumps(render.slack_report_messages(report), indent=2, ensure_ascii=False))
    else:
        print(render.render_text(report), end="")

    if report.verdict.check_id == "K8S-SVC-EXISTS" and report.verdict.status == Status.FAIL:
        return EXIT_BAD_INPUT
    if report.verdict.status == Status.ERROR:
        return EXIT_CANNOT_RUN
    return report.exit_code


def cmd_checks(args: argparse.Namespace) -> int:
    from checks.catalogue import catalogue, catalogue_markdown, catalogue_text

    if args.format == "json":
        print(json.dumps(catalogue(), indent=2, ensure_ascii=False))
    elif args.format == "markdown":
        print(catalogue_markdown(), end="")
    else:
        print(catalogue_text(), end="")
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from bot.settings import ConfigError
    from checks.collect.errors import CollectError
    from checks.collect.snapshot import write_snapshot
    from checks.model import InvalidTarget
    from checks.runner import diagnose

    args.sources = None
    try:
        target, context, _sources, probe, _severity = _resolve(args)
        report, state = diagnose(target, context=context, probe=probe)
    except (InvalidTarget, ConfigError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except CollectError as exc:
        return _fail(f"could not run: {exc}", EXIT_CANNOT_RUN)
    paths = write_snapshot(state, args.output)
    print(
        f"wrote {len(paths)} files to {args.output}; replay with: lbhealth diagnose {target.ref} --from {args.output}"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING), stream=sys.stderr
    )
    if args.command == "diagnose":
        return cmd_diagnose(args)
    if args.command == "checks":
        return cmd_checks(args)
    if args.command == "snapshot":
        return cmd_snapshot(args)
    if args.command in ("fix", "audit"):
        from bot.fixes import cli as fix_cli

        return fix_cli.cmd_fix(args) if args.command == "fix" else fix_cli.cmd_audit(args)
    if args.command == "serve":
        from bot import server

        return server.main(args) or EXIT_OK
    if args.command == "worker":
        from bot import worker

        return worker.main(args) or EXIT_OK
    parser.print_help()
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
