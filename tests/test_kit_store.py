"""`cdacheck kit add|fetch|list` (issue 16 item 5): fetch tested against a local HTTP server
on 127.0.0.1 serving a zip made at test time from the kit (nothing of the kit is copied into
the project); wrong digest, truncated archive and traversal names are refused."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdacheck.cli import main
from cdacheck.engines.schematron import kitstore
from cdacheck.engines.schematron.kitstore import KitStoreError

pytestmark = pytest.mark.kit

KEEP = ("schematrons/profils/",)  # enough for a usable kit: the five profiles and their includes


@pytest.fixture(scope="module")
def kit_zip(kit_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zip") / "TestContenuCDA-3-0-abc123.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(kit_dir.rglob("*")):
            rel = path.relative_to(kit_dir).as_posix()
            if path.is_file() and rel.startswith(KEEP) and ".git/" not in rel:
                zf.write(path, f"TestContenuCDA-3-0-abc123/{rel}")
    return out


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def server(kit_zip: Path) -> Iterator[str]:
    folder = kit_zip.parent
    data = kit_zip.read_bytes()
    (folder / "truncated.zip").write_bytes(data[: len(data) // 2])

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_checks_the_digest_then_adds(kit_zip: Path, server: str, cache: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kit", "list"]) == 0  # nothing registered yet: said, with what to do
    assert "aucun kit enregistré" in capsys.readouterr().out
    digest = hashlib.sha256(kit_zip.read_bytes()).hexdigest()
    name, root = kitstore.fetch("abc123", server + "/TestContenuCDA-3-0-{ref}.zip", {"abc123": digest})
    assert name == "TestContenuCDA-3-0-abc123" and (root / "schematrons/profils/IHE.sch").is_file()
    assert cache in root.parents
    assert main(["kit", "list"]) == 0
    assert name in capsys.readouterr().out
    assert kitstore.resolve(name) == root
    from cdacheck.config import Settings
    from cdacheck.engines.schematron.kit import KitEngine

    assert KitEngine(Settings(), Path(name)).root == root.resolve()


def test_wrong_digest_truncated_and_unknown_ref_are_refused(server: str, cache: Path) -> None:
    with pytest.raises(KitStoreError, match="empreinte"):
        kitstore.fetch("abc123", server + "/TestContenuCDA-3-0-{ref}.zip", {"abc123": "0" * 64})
    truncated = server + "/truncated.zip?{ref}"
    with pytest.raises(KitStoreError, match="empreinte|tronqu"):
        kitstore.fetch("t", truncated, {"t": "0" * 64})
    with pytest.raises(KitStoreError, match="absente de la liste"):
        kitstore.fetch("other", server + "/{ref}.zip", {"abc123": "0" * 64})
    with pytest.raises(KitStoreError, match="HTTPS"):
        kitstore.fetch("abc123", "http://example.org/{ref}.zip", {"abc123": "0" * 64})
    assert not (cache / "kits" / "TestContenuCDA-3-0-abc123").exists()
    # The shipped list: fetch of the real kit is refused until a verified digest is recorded.
    assert main(["kit", "fetch", "7cd489b3"]) == 2


def test_add_refuses_traversal_links_and_truncated_archives(tmp_path: Path, cache: Path, kit_zip: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("kit/../../outside.txt", "x")
    with pytest.raises(KitStoreError, match="hors du dossier"):
        kitstore.add(evil)
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr("/etc/cdacheck-test", "x")
    with pytest.raises(KitStoreError, match="hors du dossier"):
        kitstore.add(absolute)
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("kit/schematrons")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc")
    with pytest.raises(KitStoreError, match="lien"):
        kitstore.add(link)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(kit_zip.read_bytes()[:100_000])
    with pytest.raises(KitStoreError, match="tronquée|illisible"):
        kitstore.add(cut)
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path.parent / "outside.txt").exists()
    assert main(["kit", "add", str(evil)]) == 2


def test_add_a_checkout_registers_it_in_place(kit_dir: Path, cache: Path, tmp_path: Path) -> None:
    name, root = kitstore.add(kit_dir, name="local")
    assert root == kit_dir.resolve() and kitstore.listed()["local"] == root
    with pytest.raises(KitStoreError, match="pas un kit"):
        kitstore.add(tmp_path)
