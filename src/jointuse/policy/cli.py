"""``jointuse policy …``: render the notice, check the policy, explain one decision."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from jointuse.core.errors import ConfigError, JointuseError
from jointuse.policy.model import Policy
from jointuse.policy.render import FORMATS, LANGS, render_notice

app = typer.Typer(
    help="The joint-use policy (共同利用ポリシー): render the notice, check it, explain decisions.",
    no_args_is_help=True,
)


def _choice(*valid: str) -> Callable[[str], str]:
    """An option callback accepting only ``valid`` values and naming them when refused."""

    def check(value: str) -> str:
        if value not in valid:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(valid)}")
        return value

    return check


def _choice_option(name: str, *valid: str, help: str) -> Any:
    return typer.Option(
        name, callback=_choice(*valid), metavar="[" + "|".join(valid) + "]", help=help
    )


PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy TOML file (default: the shipped data/policy.toml).",
        dir_okay=False,
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(path: Path | None) -> Policy:
    from jointuse.policy.loader import default_policy, load_policy

    try:
        return default_policy() if path is None else load_policy(path)
    except ConfigError as exc:
        _fail(exc.message)


@app.command()
def render(
    lang: Annotated[str, _choice_option("--lang", *LANGS, help="Language.")] = "ja",
    fmt: Annotated[str, _choice_option("--format", *FORMATS, help="Output format.")] = "txt",
    policy: PolicyOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Write the joint-use notice generated from the policy file."""
    loaded = _load(policy)
    try:
        text = render_notice(loaded, lang=lang, fmt=fmt)  # type: ignore[arg-type]
    except JointuseError as exc:
        _fail(exc.message)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output} ({lang}, {fmt})", err=True)


@app.command()
def check(
    policy: PolicyOption = None,
    fmt: Annotated[str, _choice_option("--format", "text", "json", help="Report format.")] = "text",
    lang: Annotated[str, _choice_option("--lang", "en", "ja", help="Message language.")] = "en",
) -> None:
    """Report what the law requires that the policy lacks (gaps), errors and warnings.

    Exit status 1 when there is a gap or an error, 0 otherwise.
    """
    from jointuse.policy.check import check_policy, format_report

    report = check_policy(_load(policy))
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_report(report, lang="ja" if lang == "ja" else "en"), nl=False)
    if report.failed:
        raise typer.Exit(1)
