"""The ``smartframe`` command: thin. Arguments in, library calls, exit codes out.

Each :class:`~smartframe.errors.SmartframeError` kind maps to its exit code (see
``smartframe.errors``) and prints one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .batch import BatchInterrupted, frame_many
from .check import check as run_check
from .encode import format_from_path, unused_settings
from .errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, SmartframeError, install_hint
from .native import captured_stderr
from .option_table import (CHECK_OPTIONS, ENCODE_OPTIONS, EXPLAIN_OPTIONS, FRAME_OPTIONS, LIMIT_OPTIONS, SIZE,
                           Option, encode_settings, frame_options, limits, read_sizes)
from .options import AlphaPolicy, FrameOptions
from .outputs import check_formats, check_writable, folder_names, parse_out, refuse_clashes, write
from .pipeline import frame_sizes
from .serve.config import DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_QUEUE, DEFAULT_TIME_LIMIT
from .targets import presets

__all__ = ["main"]


class _UsageLine(click.ClickException):
    """A usage error shown as the one line every smartframe error is, exit code 2.

    click's own usage errors print three lines (``Usage:``, ``Try ...``, ``Error: ...``)."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"smartframe: {_one_line(f'usage error: {self.message}')}", err=True)


class _Group(click.Group):
    """Maps errors to one stderr line and an exit code, for every subcommand."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:  # an unknown option of the group itself
            raise _UsageLine(error.format_message()) from error

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SmartframeError as error:
            _fail(ctx, f"{error.kind} error: {error}", error.exit_code)
        except BatchInterrupted as interrupted:
            report = interrupted.report
            _fail(ctx, f"interrupted: {_batch_counts(report)}; {report.not_started} not started "
                       f"-> {report.out_dir} (manifest {report.manifest}); run the same command "
                       "again to resume", EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", EXIT_INTERRUPTED)
        except click.UsageError as error:  # a subcommand's arguments: an unknown option, ...
            raise _UsageLine(error.format_message()) from error
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as error:  # a bug: report it on one line, the traceback on --debug
            said = str(error).strip()  # OpenCV's messages end with a newline
            _fail(ctx, f"internal error: {type(error).__name__}: {said} "
                       "(run with --debug for the traceback)", EXIT_INTERNAL)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    if ctx.meta.get("smartframe.debug"):
        traceback.print_exc()
    said = ctx.meta.pop(_LIBRARY_SAID, ())
    if said:
        message += f" (the decoder said: {'; '.join(dict.fromkeys(said))})"
    click.echo(f"smartframe: {_one_line(message)}", err=True)
    ctx.exit(code)


def _warn(input: object, warning: str) -> None:
    """One ``smartframe: warning: <input>: <what>`` line (the library's ``WARNING:`` prefix
    is dropped: the line already says warning)."""
    text = warning[len("WARNING:"):].strip() if warning.startswith("WARNING:") else warning
    click.echo(f"smartframe: warning: {_one_line(f'{input}: {text}')}", err=True)


_LIBRARY_SAID = "smartframe.library_stderr"


@contextlib.contextmanager
def _library_stderr(input: Path):
    """Catch what C libraries print straight to the process's stderr while ``input`` is
    decoded (libtiff prints its errors there: "ZIPDecode: Decoding error at scanline 0"),
    so that every message of the CLI stays one line. On success each line is repeated as
    a warning naming the input; on failure they are added to the one error line."""
    ctx = click.get_current_context()
    failed = True
    with captured_stderr() as said:
        try:
            yield
            failed = False
        finally:
            if failed:
                ctx.meta[_LIBRARY_SAID] = said
    for line in dict.fromkeys(said):
        click.echo(f"smartframe: warning: {_one_line(f'{input}: decoder: {line}')}", err=True)


def _one_line(text: str) -> str:
    """``text`` on one terminal line: control characters (a newline in a file name or in a
    decoder's message, an escape sequence) and undecodable file-name bytes are shown
    escaped, never obeyed, so every error stays one line and names the file readably."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text.strip())


def _debug_option(function):
    def remember(ctx: click.Context, _param, value: bool) -> None:
        if value:
            ctx.meta["smartframe.debug"] = True

    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                        callback=remember, help="Print the traceback of an error.")(function)


class _Parsed(click.ParamType):
    """A value read by its row of the option table (:meth:`Option.parse`), as the HTTP API
    reads it: a bad number is the same OptionError on both."""

    def __init__(self, option: Option) -> None:
        self.option = option
        self.name = option.kind

    def convert(self, value, param, ctx):
        return self.option.parse(value)


def _option(option: Option, *names: str, **overrides):
    """The click option of a row of the option table: ``--pad-position`` for ``pad_position``;
    a boolean is a ``--faces/--no-faces`` switch; ``--size`` is read by :class:`_Sizes`."""
    if option is SIZE:
        overrides = {"type": _Sizes(), **overrides}
    if option.kind == "boolean":
        settings = {"default": option.default, "show_default": True, "help": option.help, **overrides}
        return click.option(f"{option.flag}/--no-{option.flag[2:]}", option.name, **settings)
    settings = {"metavar": option.metavar, "type": _Parsed(option), "help": option.help}
    if option.default is not None:  # (click >= 8.3 takes an explicit None as a value given)
        settings.update(default=option.default, show_default=True)
    settings.update(overrides)
    return click.option(option.flag, *names, option.name, **settings)


def _options(*rows: Option, **overrides_by_name):
    """A decorator adding the click options of ``rows``, in order."""
    def decorate(function):
        for row in reversed(rows):
            function = _option(row, **overrides_by_name.get(row.name, {}))(function)
        return function

    return decorate


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smartframe")
@_debug_option
def main() -> None:
    """Frame any image to exactly the size a consumer demands, and check it before upload.

    Exit codes: 0 ok; 1 check found violations (or a batch had failures); 2 bad usage;
    3 unreadable input; 4 constraint that cannot be met; 5 model problem; 6 timeout;
    70 internal error; 73 output cannot be written; 130 interrupted.
    """


def _frame_options(function):
    """The options shared by ``frame``, ``batch`` and ``explain`` (they build a FrameOptions),
    and the input limits."""
    return _options(*FRAME_OPTIONS, *LIMIT_OPTIONS)(function)


def _encode_options(format_help: str):
    """The output options shared by ``frame`` and ``batch`` (``--keep-metadata`` is the old
    spelling of ``--metadata keep``)."""
    def decorate(function):
        function = click.option("--keep-metadata", is_flag=True, hidden=True)(function)
        return _options(*ENCODE_OPTIONS, format={"help": format_help})(function)

    return decorate


def _build_options(values: dict) -> FrameOptions:
    """The FrameOptions of the frame options and input limits among ``values``."""
    return frame_options(values, limits(values))


class _Sizes(click.ParamType):
    """``--size``: comma-separated specs, read as the HTTP API reads ``size`` (none twice)."""

    name = "size"

    def __init__(self, one: bool = False) -> None:
        self.one = one

    def convert(self, value, param, ctx):
        return value if isinstance(value, list) else read_sizes(value, one=self.one)


def _encode_settings(values: dict) -> dict:
    """Keyword arguments for ``FrameResult.encode`` / ``frame_many`` of the encode options
    (popped from ``values``; the format is --out's to decide), checked before any work."""
    given = {o.name: values.pop(o.name) for o in ENCODE_OPTIONS}
    if values.pop("keep_metadata"):
        given["metadata"] = "keep"
    settings = encode_settings(given)
    settings.pop("format", None)
    return settings


def _comma_list(text: str) -> list[str]:
    """The non-empty items of a comma-separated option value (none for an empty one)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _dedupe(lines):
    return list(dict.fromkeys(lines))


@main.command("frame")
@click.argument("input", type=click.Path(path_type=Path))
@_option(SIZE, "-s", required=True)
@click.option("--out", "-o", "output", required=True,
              help="Output file (.jpg/.png/.webp). With several sizes use {size} (1280x720) or "
                   "{target} (sora-2_1280x720) in the name, or give a folder (ending in /), where "
                   "each output is STEM-WxH.EXT, or STEM-TARGET.EXT when two targets share a size; "
                   "{stem} is the input's name. Missing folders are created.")
@_frame_options
@_encode_options("Output format when --out is a folder [default: the target's first format].")
@click.option("--report", type=click.Path(path_type=Path), default=None,
              help="Write the plan(s) as JSON.")
@click.option("--overwrite-input", is_flag=True, help="Allow --out to replace INPUT.")
@_debug_option
def frame_command(input: Path, size: list[str], output: str, report: Path | None,
                  overwrite_input: bool, **values) -> None:
    """Frame INPUT to exactly SIZE and write it to --out."""
    sizes = size
    requested = values["format"]
    settings = _encode_settings(values)
    options = _build_options(values)
    quality = settings.get("quality")
    # Everything about the outputs is checked before any work, so a mistake costs nothing.
    out = parse_out(output, format=requested, count=len(sizes))
    check_formats(sizes, out.format, alpha=options.alpha is AlphaPolicy.KEEP)
    check_writable(out.sample())
    if report is not None:
        check_writable(report)
    clash = {"report": report, "overwrite_input": overwrite_input, "allow_hint": "--overwrite-input"}
    refuse_clashes([output] if out.kind == "file" else [], input, **clash)
    for warning in _dedupe(options.unused()):
        _warn(input, warning)
    with _library_stderr(input):
        results = frame_sizes(input, sizes, options=options)
    formats = [out.format or result.default_format() for result in results]
    paths = out.paths(input, [(result.target, fmt) for result, fmt in zip(results, formats)])
    refuse_clashes(paths, input, **clash)
    for warning in _dedupe(w for result in results for w in result.warnings
                           if w not in options.unused()):
        _warn(input, warning)
    reports = []
    for result, path, fmt in zip(results, paths, formats):
        if unused_settings(fmt, quality=quality):  # the rule is encode's; the words name the flag
            _warn(input, f"--quality {quality} does nothing for PNG output ({path})")
        encoded = result.encode(fmt, **settings)
        write(path, encoded.data)
        entry = result.report()
        entry["output"] = {"path": str(path), "format": encoded.format, "bytes": len(encoded),
                           "quality": encoded.quality}
        reports.append(entry)
        click.echo(_one_line(f"{path}  {result.output_size}  crop {_box_text(result.crop_box)}  "
                             f"{result.strategy or result.fit}  {len(encoded)} bytes"))
    if report is not None:
        text = json.dumps(reports[0] if len(reports) == 1 else reports, indent=2) + "\n"
        write(report, text.encode())  # OutputError (exit 73) when it cannot be written


def _box_text(box) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in box) + ")"


# --- batch (issue: batch/speed/distributed) -----------------------------------------------------

@main.command("batch")
@click.argument("inputs", nargs=-1, required=True)
@_option(SIZE, "-s", required=True)
@click.option("--out", "-o", "output", required=True,
              help="Folder for the outputs (created if missing).")
@_option(Option("workers", "integer", None, "Local worker processes [default: one per CPU]."), "-j")
@click.option("--manifest", default=None,
              help="JSON-lines manifest; rerunning with it resumes [default: OUT/manifest.jsonl].")
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help='Run on this Dask scheduler instead (needs the extra: pip install ".[dask]").')
@_option(Option("timeout", "number", 60.0, "Seconds one input may take; then it is recorded as a timeout "
                                         "(exit code 6)."))
@_frame_options
@_encode_options("Output format, one every size accepts [default: each target's first accepted format].")
@_debug_option
def batch_command(inputs: tuple[str, ...], size: list[str], output: str, workers: int | None,
                  manifest: str | None, scheduler: str | None, timeout: float, **values) -> None:
    """Frame every image in INPUTS (files, folders, globs) to each SIZE, into --out.

    One manifest line per (input, size). Running the same command again resumes: only what
    is missing is done. Exit code 0 when every item is done, 1 when any failed.
    """
    out_format = values["format"]
    settings = _encode_settings(values)
    options = _build_options(values)
    for warning in _dedupe(options.unused()):
        _warn(output, warning)
    quality = settings.get("quality")
    if out_format is not None and unused_settings(out_format, quality=quality):
        _warn(output, f"--quality {quality} does nothing for PNG output")
    report = frame_many(list(inputs), size, output, options=options,
                        workers=workers, manifest=manifest, scheduler=scheduler, timeout=timeout,
                        format=out_format, progress=_progress_bar() if sys.stderr.isatty() else None,
                        **settings)
    for record in report.failures[:10]:
        click.echo("smartframe: " + _one_line(f"failed: {record.input} [{record.size}]: {record.error.kind} "
                                              f"error: {record.error.message}"), err=True)
    if len(report.failures) > 10:
        click.echo(f"smartframe: ... and {len(report.failures) - 10} more failures", err=True)
    warned = sum(bool(r.warnings) for r in report.records if r.status == "done")
    if warned:
        click.echo(f"smartframe: warning: {warned} output(s) written with warnings (see the manifest's "
                   "'warnings')", err=True)
    if report.earlier_failures:
        gone = sum(not os.path.exists(r.input) for r in report.earlier_failures)
        click.echo(_one_line(
            f"smartframe: note: the manifest still holds {len(report.earlier_failures)} failed line(s) "
            f"from earlier runs for inputs not in this run ({gone} of them no longer exist); they are "
            "not counted here"), err=True)
    click.echo(_one_line(f"{_batch_counts(report)} -> {report.out_dir} (manifest {report.manifest})"))
    sys.exit(report.exit_code)


def _batch_counts(report) -> str:
    return f"{report.done} done, {report.failed} failed, {report.already_done} already done"


def _progress_bar():
    """A progress callback that draws a tqdm bar on stderr, with the count of failures."""
    from tqdm import tqdm

    bar = None
    failed = 0

    def progress(finished: int, total: int, record) -> None:
        nonlocal bar, failed
        if bar is None:
            bar = tqdm(total=total, unit="item", file=sys.stderr, dynamic_ncols=True)
        if record is not None:
            failed += record.status == "failed"
            if failed:
                bar.set_postfix(failed=failed, refresh=False)
            bar.update(1)
        if finished == total:
            bar.close()

    return progress


@main.command("check")
@click.argument("input", type=click.Path(path_type=Path))
@_option(SIZE, "-s", required=True, help="WxH, a preset, or preset:WxH (one target).", type=_Sizes(one=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_options(*CHECK_OPTIONS, *LIMIT_OPTIONS)
@_debug_option
def check_command(input: Path, size: list[str], as_json: bool, **values) -> None:
    """Check INPUT against the rules of SIZE. Exit 0 when it passes, 1 when it does not."""
    arguments = {o.name: values[o.name] for o in CHECK_OPTIONS}
    with _library_stderr(input):
        report = run_check(input, size[0], **arguments, limits=limits(values))
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        status = "ok" if report.ok else "FAIL"
        click.echo(_one_line(f"{input}: {status} for {report.target.name}"))
        for violation in report.violations:
            click.echo("  " + _one_line(f"{violation.rule}: {violation.message}"))
        for warning in report.warnings:
            text = warning[len("WARNING:"):].strip() if warning.startswith("WARNING:") else warning
            click.echo("  " + _one_line(f"warning: {text}"))
        if report.faces and not any(v.rule == "faces" for v in report.violations):
            click.echo(f"  note: {len(report.faces)} identifiable face(s) found")
    sys.exit(0 if report.ok else EXIT_FAILED)


@main.command("presets")
@click.option("--json", "as_json", is_flag=True, help="Print the presets as JSON.")
@_debug_option
def presets_command(as_json: bool) -> None:
    """List the presets: their sizes and rules."""
    table = presets()
    if as_json:
        click.echo(json.dumps([preset.to_dict() for preset in table.values()], indent=2))
        return
    for preset in table.values():
        limit = f"{preset.max_bytes} bytes" if preset.max_bytes else "no byte limit"
        faces = "refuses faces" if preset.refuses_faces else "faces allowed"
        click.echo(f"{preset.name:20s} {preset.provider:8s} {', '.join(str(s) for s in preset.sizes)}")
        click.echo(f"{'':20s} {'':8s} {'/'.join(preset.formats)}; {limit}; {faces}")
        if preset.deprecated:
            click.echo(f"{'':20s} {'':8s} deprecated: {preset.deprecated}")


@main.command("explain")
@click.argument("input", type=click.Path(path_type=Path))
@_option(SIZE, "-s", required=True)
@click.option("--out", "-o", "output", required=True, type=click.Path(path_type=Path),
              help="The overlay picture (.png, .jpg or .webp).")
@_options(*EXPLAIN_OPTIONS)
@_frame_options
@_debug_option
def explain_command(input: Path, size: list[str], output: Path, max_side: int, **values) -> None:
    """Draw why INPUT is framed as it is: importance map, chosen and centre windows, faces."""
    from .encode import encode
    from .explain import check_max_side, explain

    fmt = format_from_path(output)  # a clear error before any work
    check_max_side(max_side)
    check_writable(output)
    refuse_clashes([output], input)
    with _library_stderr(input):
        overlay, plans = explain(input, size, max_side=max_side, options=_build_options(values))
    write(output, encode(overlay, fmt).data)
    for plan in plans:
        confidence = "" if plan.confidence is None else f"  confidence {plan.confidence:.2f}"
        click.echo(_one_line(f"{plan.output_size}  crop {_box_text(plan.crop_box)}  "
                             f"{plan.strategy.value if plan.strategy else plan.fit.value}{confidence}  {plan.reason}"))
    click.echo(_one_line(f"overlay -> {output} ({overlay.size[0]}x{overlay.size[1]})"))


@main.command("demo")
@click.option("--out", "-o", "output", default="smartframe-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the outputs.")
@_debug_option
def demo_command(output: Path) -> None:
    """Make a test scene, frame it for every preset size, and check every output."""
    from PIL import Image

    from .encode import encode
    from .scenes import landscape_with_subject

    scene, subject = landscape_with_subject(2400, 1600, subject_x=0.22, subject_y=0.5)
    source = output / "scene.png"
    write(source, encode(Image.fromarray(scene), "png").data)  # OutputError (exit 73) if it cannot
    click.echo(f"scene {scene.shape[1]}x{scene.shape[0]}, subject at {_box_text(subject)} -> {source}")
    failures = 0
    for preset in presets().values():
        results = frame_sizes(source, [f"{preset.name}:{s}" for s in preset.sizes])
        names = folder_names(preset.name, [(result.target, result.default_format()) for result in results])
        for result, name in zip(results, names):
            path = output / name
            encoded = result.save(path)
            report = run_check(path, result.target.name)
            failures += not report.ok
            kept = "subject kept" if result.plan.crop_box.contains(subject) else "subject cut"
            click.echo(f"{result.target.name:28s} {encoded.format:5s} {len(encoded):8d} B  "
                       f"crop {_box_text(result.crop_box):32s} {kept:13s} "
                       f"check {'ok' if report.ok else 'FAIL'}")
    if failures:
        click.echo(f"{failures} output(s) failed their check", err=True)
        sys.exit(EXIT_FAILED)


# --- serve (issue: pre-screening as a service) ------------------------------------------------

def _serve_option(name: str, env: str, **kwargs):
    return click.option(name, envvar=f"SMARTFRAME_{env}", show_envvar=True, show_default=True, **kwargs)


@main.command("serve")
@_serve_option("--host", "HOST", default="127.0.0.1", help="Address to listen on.")
@_serve_option("--port", "PORT", type=click.IntRange(0, 65535), default=8000, help="Port to listen on.")
@_serve_option("--workers", "WORKERS", type=click.IntRange(1, 256), default=None,
               help="Worker processes, each with its own models [default: one per CPU].")
@_serve_option("--max-upload-bytes", "MAX_UPLOAD_BYTES", type=click.IntRange(min=1),
               default=DEFAULT_MAX_UPLOAD_BYTES, help="Largest request body; refused (413) while it streams in.")
@_serve_option("--time-limit", "TIME_LIMIT", type=click.FloatRange(min=0, min_open=True),
               default=DEFAULT_TIME_LIMIT, help="Seconds from a request's arrival to its answer (upload, queue and work).")
@_serve_option("--queue", "QUEUE", type=click.IntRange(min=0), default=DEFAULT_QUEUE,
               help="Requests that may wait for a worker; beyond them 503 at once.")
@click.option("--token", envvar="SMARTFRAME_TOKEN", show_envvar=True, default=None,
              help="Require 'Authorization: Bearer TOKEN' on /v1/* and /metrics (prefer the variable: "
                   "a flag shows in the process list).")
@click.option("--cors-origins", envvar="SMARTFRAME_CORS_ORIGINS", show_envvar=True, default="",
               help="Comma-separated origins allowed to call the API from a browser [default: none].")
@_options(*LIMIT_OPTIONS, **{row.name: {"envvar": f"SMARTFRAME_{row.name.upper()}", "show_envvar": True}
                              for row in LIMIT_OPTIONS})
@_debug_option
def serve_command(host: str, port: int, workers: int | None, max_upload_bytes: int, time_limit: float,
                  queue: int, token: str | None, cors_origins: str, **limit_values) -> None:
    """Serve the API and the upload page (needs the extra: pip install ".[serve]").

    POST /v1/check, /v1/frame, /v1/explain; GET /v1/presets, /healthz, /readyz, /metrics,
    /openapi.json, and the page at /. Stops on SIGTERM or Ctrl-C after answering the requests
    in flight.
    """
    try:  # every module of the [serve] extra, before any work: run() imports uvicorn late
        import prometheus_client  # noqa: F401
        import python_multipart  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from .serve import ServeConfig, run
        from .serve.config import default_workers
    except ImportError as error:
        raise click.UsageError(f"smartframe serve needs its extra: {install_hint('serve')} "
                               f"({error})") from None
    config = ServeConfig(host=host, port=port, workers=workers or default_workers(),
                         max_upload_bytes=max_upload_bytes, time_limit=time_limit, queue=queue,
                         token=token or None, cors_origins=tuple(_comma_list(cors_origins)),
                         limits=limits(limit_values))
    if not run(config):
        sys.exit(EXIT_INTERNAL)
