"""Kits managed for the user: ``cdacheck kit add PATH|ZIP``, ``kit fetch [REF]``, ``kit list``.

Kits live in the user's cache folder (``<cache>/kits``, see diskcache.py): a checkout folder
is registered where it is (nothing copied), an archive is extracted there after checks (no
absolute or ``..`` member names, no links, size caps). ``fetch`` downloads the public kit's
archive of a release or commit over HTTPS, and keeps it only if its SHA-256 is the one listed
for that ref in ``cdacheck/data/kit-digests.json`` (shipped with cdacheck); anything else is
refused. A registered kit is then usable as ``--kit NAME``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from cdacheck.engines.schematron import diskcache

DIGESTS_FILE = Path(__file__).resolve().parents[2] / "data" / "kit-digests.json"
DEFAULT_URL = "https://github.com/ansforge/TestContenuCDA-3-0/archive/{ref}.zip"
MAX_ARCHIVE = 1 << 30  # 1 GiB downloaded
MAX_UNPACKED = 4 << 30  # 4 GiB extracted
MAX_MEMBERS = 200_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


class KitStoreError(Exception):
    """A kit cannot be added or fetched: the message says why (exit code 2)."""


def kits_dir() -> Path:
    base = diskcache.cache_dir()
    if base is None:
        raise KitStoreError("le cache utilisateur est désactivé (CDACHECK_CACHE_DIR=off) : "
                            "aucun kit ne peut être enregistré")
    return base / "kits"


def _registry() -> dict[str, str]:
    path = kits_dir() / "kits.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(reg: dict[str, str]) -> None:
    folder = kits_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(reg, out, indent=1, sort_keys=True)
    os.replace(tmp, folder / "kits.json")


def _check_kit(root: Path) -> None:
    from cdacheck.engines.schematron.kit import PROFILES

    missing = [rel for _, rel in PROFILES if not (root / rel).is_file()]
    if not (root / "schematrons").is_dir() or missing:
        raise KitStoreError(f"{root} n'est pas un kit TestContenuCDA : absents "
                            f"{', '.join(missing[:3]) or 'schematrons/'}")


def add(source: Path, name: str | None = None) -> tuple[str, Path]:
    """Register a kit checkout (folder) or extract a downloaded archive (zip)."""
    source = Path(source).expanduser()
    if source.is_dir():
        root = source.resolve()
        _check_kit(root)
        name = name or root.name
    elif source.is_file():
        name = name or re.sub(r"\.zip$", "", source.name, flags=re.I)
        root = _extract(source, name)
    else:
        raise KitStoreError(f"{source} : ni un dossier ni une archive")
    if not _NAME.match(name):
        raise KitStoreError(f"nom de kit invalide : {name!r}")
    reg = _registry()
    reg[name] = str(root)
    _save(reg)
    return name, root


def _extract(archive: Path, name: str) -> Path:
    if not _NAME.match(name):
        raise KitStoreError(f"nom de kit invalide : {name!r}")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise KitStoreError(f"{archive.name} : archive zip illisible ou tronquée ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise KitStoreError(f"{archive.name} : trop de fichiers ({len(infos)})")
        total = 0
        for info in infos:
            member = info.filename
            parts = Path(member.replace("\\", "/")).parts
            if member.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member) or ".." in parts:
                raise KitStoreError(f"{archive.name} : nom de fichier refusé (hors du dossier) : {member!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise KitStoreError(f"{archive.name} : lien symbolique refusé : {member!r}")
            total += info.file_size
            if total > MAX_UNPACKED:
                raise KitStoreError(f"{archive.name} : contenu décompressé trop grand")
        target = kits_dir() / name
        kits_dir().mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=kits_dir(), prefix=".kit-"))
        try:
            try:
                zf.extractall(scratch)
                bad = zf.testzip()
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise KitStoreError(f"{archive.name} : archive tronquée ou corrompue ({exc})") from exc
            if bad is not None:
                raise KitStoreError(f"{archive.name} : membre corrompu {bad}")
            entries = [p for p in scratch.iterdir()]
            root = entries[0] if len(entries) == 1 and entries[0].is_dir() else scratch
            _check_kit(root)
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(root), str(target))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def digests(path: Path | None = None) -> dict[str, str]:
    """ref -> expected SHA-256 of the public archive (the list shipped with cdacheck)."""
    data = json.loads((path or DIGESTS_FILE).read_text(encoding="utf-8"))
    return {str(k): str(v).lower() for k, v in data.get("archives", {}).items()}


def fetch(ref: str, url_template: str = DEFAULT_URL, expected: dict[str, str] | None = None,
          name: str | None = None, timeout: float = 60.0) -> tuple[str, Path]:
    """Download the kit archive of ``ref``, check its digest against the shipped list, add it."""
    known = digests() if expected is None else expected
    if ref not in known:
        raise KitStoreError(f"référence {ref!r} absente de la liste des empreintes de cdacheck "
                            f"({', '.join(sorted(known)) or 'liste vide'}) : téléchargement refusé")
    url = url_template.format(ref=urllib.parse.quote(ref, safe=""))
    parsed = urllib.parse.urlparse(url)
    local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost")
    if parsed.scheme != "https" and not local:
        raise KitStoreError(f"{url} : seul HTTPS est accepté")
    kits_dir().mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=kits_dir(), prefix=".download-", suffix=".zip")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
                length = resp.headers.get("Content-Length")
                while chunk := resp.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_ARCHIVE:
                        raise KitStoreError(f"{url} : archive trop grande")
                    h.update(chunk)
                    out.write(chunk)
        except (OSError, ValueError) as exc:
            raise KitStoreError(f"{url} : téléchargement impossible ({exc})") from exc
        if length is not None and length.isdigit() and int(length) != size:
            raise KitStoreError(f"{url} : archive tronquée ({size} octets sur {length})")
        digest = h.hexdigest()
        if digest != known[ref]:
            raise KitStoreError(f"{url} : empreinte SHA-256 {digest} différente de celle attendue "
                                f"{known[ref]} : archive refusée")
        return add(tmp, name or f"TestContenuCDA-3-0-{ref}")
    finally:
        tmp.unlink(missing_ok=True)


def listed() -> dict[str, Path]:
    return {k: Path(v) for k, v in sorted(_registry().items())}


def resolve(name_or_path: Path | str) -> Path:
    """A registered kit name -> its folder; anything else is returned as a path."""
    raw = str(name_or_path)
    path = Path(raw)
    if not path.exists() and _NAME.match(raw):
        try:
            found = listed().get(raw)
        except KitStoreError:
            found = None
        if found is not None:
            return found
    return path


def kit_group() -> object:
    """The ``cdacheck kit`` click group (add, fetch, list)."""
    import click

    @click.group("kit", context_settings={"help_option_names": ["-h", "--help"]})
    def group() -> None:
        """Manage TestContenuCDA kits (in the user cache folder)."""

    @group.command("add")
    @click.argument("source", type=click.Path(path_type=Path))
    @click.option("--name", default=None, help="Name to use with --kit NAME.")
    def add_command(source: Path, name: str | None) -> None:
        """Register a kit checkout or extract a downloaded kit archive (zip)."""
        try:
            kit_name, root = add(source, name)
        except KitStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"kit {kit_name} : {root}")

    @group.command("fetch")
    @click.argument("ref")
    @click.option("--url", default=DEFAULT_URL, show_default=True, help="Archive URL, {ref} replaced.")
    @click.option("--name", default=None)
    def fetch_command(ref: str, url: str, name: str | None) -> None:
        """Download the public kit archive of REF (release or commit), digest checked."""
        try:
            kit_name, root = fetch(ref, url, name=name)
        except KitStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"kit {kit_name} : {root}")

    @group.command("list")
    def list_command() -> None:
        """The registered kits."""
        try:
            kits = listed()
        except KitStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        if not kits:
            click.echo(f"aucun kit enregistré (dossier {kits_dir()}) : cdacheck kit add "
                       "DOSSIER|ARCHIVE.zip, ou --kit DOSSIER")
        for kit_name, root in kits.items():
            click.echo(f"{kit_name}\t{root}{'' if root.is_dir() else '  (absent)'}")

    return group
