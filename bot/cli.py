"""`lbhealth`: diagnose | checks | snapshot | serve | worker | fix | audit.

Exit codes (EXIT_CODES below, printed by --help): 0 no failing finding, 1 a failing finding,
2 bad input (a clear message, never a traceback), 3 could not run or could not decide.
Whatever a person types or feeds in, the answer is a message, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILING, EXIT_BAD_INPUT, EXIT_CANNOT_RUN = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
LONG_RUNNING = ("serve", "worker")

log = logging.getLogger("lbhealth")

EXIT_CODES = """\
exit codes:
  0  no failing finding (diagnose, fix), or the command did what it was asked
  1  a failing finding: the report leads with its root cause
  2  bad input: a message says what is wrong (a Service nothing refers to, an unreadable or
     unrecognised dump, a bad option); nothing was run or written
  3  could not run or could not decide: an API cannot be reached, or the reads that decide
     were missing or denied (verdict `incomplete`)
"""

DESCRIPTION = """\
Diagnose failing load-balancer health checks for a Kubernetes Service on AWS (ALB/NLB)
or Tencent Cloud (CLB): root cause first, with evidence and the fix.

examples:
  lbhealth diagnose shop/web                       live, current kube context and cloud credentials
  lbhealth diagnose web -n shop --context prod --no-probe
  lbhealth diagnose shop/web --from dump/          offline, from kubectl/aws/tccli output
  kubectl get svc,pods -n shop -o yaml | lbhealth diagnose shop/web --from -
  lbhealth diagnose shop/web --format json         one JSON object (see README)
  lbhealth checks                                  the catalogue of checks and fixes
  lbhealth snapshot shop/web -o dump/              save what a live diagnosis reads
  lbhealth fix shop/web FIX-TARGETPORT --dry-run   the server-side dry-run diff of a fix (drop --dry-run to apply)
  lbhealth audit --since 24h                       every fix request, approval, apply, rollback, verification
  lbhealth serve                                   the Slack bot and alarm webhooks (HTTP)
  lbhealth worker --concurrency 4                  diagnosis workers (Redis queue)
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written; each option's help ends with its default when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unstated = default is None or default is False or default == argparse.SUPPRESS  # 0 is a default
        if "default" in text or unstated or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class VersionAction(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("lbhealth")
        except PackageNotFoundError:
            text = "unknown (run from a checkout that is not installed: pip install -e .)"
        print(f"lbhealth {text}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbhealth", description=DESCRIPTION, epilog=EXIT_CODES, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument(
        "--log-level", default="WARNING", help="logging level: DEBUG, INFO, WARNING, ERROR"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_diagnose(sub)
    _add_checks(sub)
    _add_snapshot(sub)
    _add_serve(sub)
    _add_worker(sub)

    from bot.fixes.cli import add_parsers as add_fix_parsers

    add_fix_parsers(sub)  # fix, audit
    for command in sub.choices.values():
        command.formatter_class = HelpFormatter
        command.epilog = command.epilog or EXIT_CODES
    return parser


def _add_target(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    p.add_argument(
        "service",
        metavar="[NAMESPACE/]SERVICE",
        nargs="?" if optional else None,
        help="the Service whose load balancer fails its health checks",
    )
    p.add_argument("-n", "--namespace", help="namespace (default: the one in NAMESPACE/SERVICE, else 'default')")
    p.add_argument("--cluster", help="a cluster named in LBHEALTH_CONFIG (default: its default cluster)")
    p.add_argument("--context", help="kube context (default: the current context, or in-cluster)")


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "diagnose",
        help="diagnose one Service",
        description="Diagnose one Service's load-balancer health checks.",
        usage="%(prog)s [NAMESPACE/]SERVICE [-n NS] [--context CTX | --cluster NAME | --from PATH ...] [options]",
    )
    _add_target(d, optional=True)  # optional here only so that `--from DIR NS/SVC` parses too
    d.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        metavar="PATH",
        help="read state from dump files/directories instead of live APIs; '-' reads one from standard input",
    )
    d.add_argument("--format", choices=("text", "json", "slack"), default="text", help="output format")
    d.add_argument("--no-probe", action="store_true", help="do not send health-check probes to pods/nodes")
    d.add_argument(
        "--node", action="store_true", help="also run node checks (starts a short-lived pod per target node)"
    )
    d.add_argument("--only", metavar="IDS", help="comma-separated check IDs to run (default: all)")


def _add_checks(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("checks", help="list the catalogue of checks and fixes")
    c.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="output format")


def _add_snapshot(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("snapshot", help="write what a live diagnosis reads, for --from")
    _add_target(s)
    s.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write into (created if missing)")
    s.add_argument("--no-probe", action="store_true", help="do not send health-check probes to pods/nodes")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    sv = sub.add_parser("serve", help="run the Slack bot and webhooks")
    sv.add_argument("--host", default="0.0.0.0", help="address to listen on")
    sv.add_argument("--port", type=int, default=3000, help="port to listen on")
    sv.add_argument(
        "--socket-mode",
        action="store_true",
        help="connect to Slack over Socket Mode (SLACK_APP_TOKEN) instead of HTTP",
    )


def _add_worker(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("worker", help="run diagnosis workers")
    w.add_argument("--concurrency", type=int, default=1, help="diagnoses run at once")
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    w.add_argument("--queue", default="lbhealth",
                   help="the queue to run (default lbhealth; lbhealth-fixes: fix jobs, for the writer's ServiceAccount)")


def _service_after_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`diagnose --from DIR NS/SVC`: --from took the Service as one more path; give it back.

    The last --from value is the Service when it reads as [NAMESPACE/]SERVICE and names no file
    or directory; a Service name that is also a path here is ambiguous, so the person is asked
    to put the Service first.
    """
    from checks.model import InvalidTarget, Target

    if args.service is not None:
        return
    sources = args.sources or []
    if len(sources) > 1 and not Path(sources[-1]).exists():
        try:
            Target.parse(sources[-1], args.namespace)
        except InvalidTarget:
            pass
        else:
            args.service = sources.pop()
            return
    parser.error("which Service? give [NAMESPACE/]SERVICE before --from, e.g. lbhealth diagnose shop/web --from dump/")


def _fail(message: str, code: int) -> int:
    print(f"lbhealth: {message}", file=sys.stderr)
    return code


def _config_named(args: argparse.Namespace) -> bool:
    """Is there a config file to read (LBHEALTH_CONFIG, any case, as pydantic-settings matches it) or a
    --cluster to find in one? Without either, the settings would be empty: a terminal run skips
    loading them (pydantic-settings and bot.settings took ~150 ms of a ~620 ms live run)."""
    return bool(args.cluster) or any(k.upper() == "LBHEALTH_CONFIG" and v for k, v in os.environ.items())


def _config_errors() -> tuple[type[Exception], ...]:
    """bot.settings' ConfigError once that module is loaded (only then can one have been raised)."""
    settings = sys.modules.get("bot.settings")
    return (settings.ConfigError,) if settings is not None else ()


def _resolve(args: argparse.Namespace):
    """Target plus where to read from (config cluster -> context or offline sources)."""
    from checks.model import Target

    target = Target.parse(args.service, args.namespace, args.cluster)
    context = args.context
    sources = getattr(args, "sources", None)
    probe = not args.no_probe
    if not _config_named(args):
        return target, context, sources, probe, None
    from bot.settings import get_settings

    settings = get_settings()
    if args.cluster or (not context and not sources):
        cluster = settings.cluster(args.cluster)
        if cluster:
            context = context or cluster.context
            sources = sources or (cluster.sources or None)
            probe = probe and cluster.probe
    return target, context, sources, probe, settings.file_config().severity or None


def _load_renderer(fmt: str) -> Any:
    """bot.render with the templates `fmt` needs compiled."""
    from bot import render

    if fmt == "text":
        render.env().get_template("report.txt.j2")
        render.env().get_template("finding.txt.j2")
    return render


def _renderer_in_background(fmt: str) -> Future:
    """Load the renderer on a thread while the diagnosis runs, mostly waiting on APIs.

    Importing jinja2 and compiling the text templates took ~80 ms of a ~650 ms live run (50 ms
    per API call, bench/cold_start.py); the collector waits longer than that for answers, during
    which this thread holds the GIL instead of nobody.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lbhealth-render")
    future = pool.submit(_load_renderer, fmt)
    pool.shutdown(wait=False)
    return future


def cmd_diagnose(args: argparse.Namespace) -> int:
    from checks.collect.errors import CollectError, DumpError
    from checks.model import InvalidTarget, Status
    from checks.runner import diagnose

    if "-" in (args.sources or []) and sys.stdin.isatty():
        return _fail(
            "--from - reads a dump from standard input; pipe one in, e.g. "
            "kubectl get svc,pods,endpointslices -n shop -o yaml | lbhealth diagnose shop/web --from -",
            EXIT_BAD_INPUT,
        )
    renderer = _renderer_in_background(args.format)
    try:
        target, context, sources, probe, severity = _resolve(args)
        only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only is not None else None
        if only == []:
            return _fail("--only needs check IDs, comma-separated (see `lbhealth checks`)", EXIT_BAD_INPUT)
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
    except (InvalidTarget, DumpError, *_config_errors()) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except CollectError as exc:
        return _fail(f"could not run: {exc}", EXIT_CANNOT_RUN)

    render = renderer.result()
    if args.format == "json":
        print(render.render_json(report))
    elif args.format == "slack":
        print(json.dumps(render.slack_report_messages(report), indent=2, ensure_ascii=False))
    else:
        print(render.render_text(report), end="")

    root = report.root_cause
    if root is not None and root.check_id == "K8S-SVC-EXISTS" and root.status == Status.FAIL and not root.cause:
        return EXIT_BAD_INPUT  # a name nothing refers to; a Service something still points at is a finding (1)
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
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        return _fail(f"-o {args.output}: exists and is not a directory; name a directory to write into", EXIT_BAD_INPUT)
    try:
        target, context, _sources, probe, _severity = _resolve(args)
        report, state = diagnose(target, context=context, probe=probe)
    except (InvalidTarget, ConfigError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except CollectError as exc:
        return _fail(f"could not run: {exc}", EXIT_CANNOT_RUN)
    if state.service is None and "k8s.service" not in state.read_errors:
        return _fail(f"nothing written: {report.verdict.summary}", EXIT_BAD_INPUT)
    try:
        paths = write_snapshot(state, output)
    except OSError as exc:
        return _fail(f"cannot write the snapshot to {args.output}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    print(
        f"wrote {len(paths)} files to {args.output}; replay with: lbhealth diagnose {target.ref} --from {args.output}"
    )
    return EXIT_OK


def console() -> int:
    """The `lbhealth` console script: main() in a process of its own."""
    return main(process=True)


def main(argv: Sequence[str] | None = None, *, process: bool = False) -> int:
    """Run one command. Interrupts, closed pipes and bugs end with one line, never a traceback.

    `process`: this is the whole process (the console script), so a one-shot command may turn
    off the cyclic garbage collector; callers in a longer-lived process (tests) leave it alone.
    """
    try:
        return _main(argv, process)
    except KeyboardInterrupt:
        print("lbhealth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (head, less) went away: say nothing more, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug: one line for the person, the traceback for --log-level DEBUG
        log.debug("unexpected error", exc_info=True)
        return _fail(
            f"internal error ({type(exc).__name__}: {exc}); rerun with --log-level DEBUG for the details and report it",
            EXIT_CANNOT_RUN,
        )


def _configure_logging(level_name: str) -> None:
    level = getattr(logging, str(level_name).upper(), None)
    if not isinstance(level, int):
        level = logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr)
    if level > logging.INFO:
        # urllib3 warns on each retry ("Retrying (Retry(total=2, ...))") while an API is down;
        # the collector reports the outcome once, in words (see CollectError).
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def _collect_garbage_only_by_refcount() -> None:
    """For a command that runs once and exits: no cyclic garbage collection, none at exit either.

    A diagnosis allocates acyclic dicts, freed by reference counting; the cyclic collector only
    re-scanned them (210 passes, ~45 ms of a live run; ~880 passes, 0.7 s of a 10,000-pod dump;
    peak memory unchanged) and then once more while the interpreter exits. Long-running commands
    (serve, worker) keep the collector.
    """
    gc.disable()
    atexit.register(gc.freeze)  # the final collection at exit then has nothing to scan


def _main(argv: Sequence[str] | None, process: bool) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    if process and args.command not in LONG_RUNNING:
        _collect_garbage_only_by_refcount()
    if args.command == "diagnose":
        _service_after_from(parser, args)
        return cmd_diagnose(args)
    if args.command == "checks":
        return cmd_checks(args)
    if args.command == "snapshot":
        return cmd_snapshot(args)
    if args.command in ("fix", "audit"):
        from bot.fixes import cli as fix_cli

        return fix_cli.cmd_fix(args) if args.command == "fix" else fix_cli.cmd_audit(args)
    if args.command == "serve":
        from bot import serve

        return serve.main(args) or EXIT_OK
    if args.command == "worker":
        from bot import worker_process

        return worker_process.main(args) or EXIT_OK
    parser.print_help()
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(console())
