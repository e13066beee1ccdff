"""``cdacheck serve`` through real HTTP on 127.0.0.1: endpoints, options, limits, token.

One server (2 warm workers) is started for the module as a user would start it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any
from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from service_helpers import SAMPLES, Server, start_server

DOCS = SAMPLES / "documents"
TOKEN = "s3cret-token-for-tests"
MAX = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    srv = start_server(tmp_path_factory.mktemp("serve"), "--workers", "2", "--env", "test",
                       "--max-bytes", str(MAX), token=TOKEN)
    yield srv
    assert srv.stop() == 0


@pytest.fixture()
def client(server: Server) -> httpx.Client:
    with server.client() as c:
        yield c


def _check(client: httpx.Client, data: bytes, **params: str) -> httpx.Response:
    return client.post("/v1/check", content=data, params=params)


def test_healthz_readyz(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["ready"] is True and ready["workers_ready"] == ready["workers"] == 2


def test_valid_document_answers_report_with_verdict_on_top(client: httpx.Client) -> None:
    r = _check(client, (DOCS / "ldl-ses-n1.xml").read_bytes())
    assert r.status_code == 200 and r.headers["x-cdacheck-verdict"] == "pass"
    body = r.json()
    assert list(body)[:4] == ["verdict", "valid", "indicator", "indicators"]
    assert body["verdict"] == "pass" and body["valid"] is True and body["indicator"] == "DS 1.1"
    doc = body["items"][0]
    assert doc["doc_type"] == "LDL-SES" and doc["level"] == "N1" and doc["source"] == "<http>"


def test_answer_is_the_cli_report(client: httpx.Client) -> None:
    path = DOCS / "ins-key-wrong.xml"
    r = _check(client, path.read_bytes())
    assert r.status_code == 200  # an invalid document is still a 200
    body = r.json()
    cli = subprocess.run([sys.executable, "-m", "cdacheck", "--env", "test", "--format", "json",
                          "--max-bytes", str(MAX), str(path)], capture_output=True, check=False)
    assert cli.returncode == 1
    expected = json.loads(cli.stdout)
    for key in ("verdict", "valid", "indicator", "indicators"):
        body.pop(key)
    got_doc, want_doc = body["items"][0], expected["items"][0]
    for d in (got_doc, want_doc):
        d.pop("elapsed_ms")
        d.pop("source")
        for f in d["findings"]:
            f["location"].pop("file")
    assert got_doc == want_doc
    assert body["summary"] == expected["summary"] and body["settings"] == expected["settings"]
    assert "INS008" in {f["rule_id"] for f in got_doc["findings"]}


def test_invalid_document_verdict_fail(client: httpx.Client) -> None:
    body = _check(client, (DOCS / "ins-key-wrong.xml").read_bytes()).json()
    assert body["verdict"] == "fail" and body["valid"] is False and body["indicator"] == "none"


def test_env_and_fail_on_parameters(client: httpx.Client) -> None:
    data = (DOCS / "ldl-ses-n1.xml").read_bytes()  # test INS: a finding in production
    prod = _check(client, data, env="production").json()
    assert prod["verdict"] == "fail" and prod["settings"]["env"] == "production"
    assert _check(client, data, env="test").json()["verdict"] == "pass"
    warn = (DOCS / "effective-time-no-offset.xml").read_bytes()
    base = _check(client, warn).json()
    assert base["summary"]["by_severity"]["warning"] >= 1 and base["verdict"] == "pass"
    strict = _check(client, warn, fail_on="warning").json()
    assert strict["verdict"] == "fail" and strict["summary"]["fail_on"] == "warning"


def test_archive_body(client: httpx.Client) -> None:
    data = (SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip").read_bytes()
    body = _check(client, data).json()
    assert body["items"][0]["kind"] == "archive" and body["indicators"] == ["DS 1.1"]
    assert body["indicator"] == "DS 1.1"


def test_text_format(client: httpx.Client) -> None:
    r = _check(client, (DOCS / "ldl-ses-n1.xml").read_bytes(), format="text")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "VALIDE" in r.text and "Résumé" in r.text


def test_sarif_not_faked(client: httpx.Client) -> None:
    from cdacheck.reporters import FORMATS

    r = _check(client, (DOCS / "ldl-ses-n1.xml").read_bytes(), format="sarif")
    if "sarif" in FORMATS:
        assert r.status_code == 200 and "runs" in r.json()
    else:
        assert r.status_code == 501 and r.json()["error"] == "format-unavailable"


@pytest.mark.parametrize("params", [{"env": "staging"}, {"fail_on": "bad"}, {"colour": "red"}])
def test_bad_parameters_400(client: httpx.Client, params: dict[str, str]) -> None:
    r = _check(client, (DOCS / "ldl-ses-n1.xml").read_bytes(), **params)
    assert r.status_code == 400 and r.json()["error"] == "bad-parameter"


@pytest.mark.parametrize("data", [b"", b"   \n", b"hello, not a document", b"\x00\x01\x02binary"])
def test_not_a_document_400(client: httpx.Client, data: bytes) -> None:
    r = _check(client, data)
    assert r.status_code == 400 and r.json()["error"] == "not-a-document"


def test_malformed_xml_is_a_finding_not_an_error(client: httpx.Client) -> None:
    r = _check(client, (SAMPLES / "inputs" / "truncated.xml").read_bytes())
    assert r.status_code == 200 and r.json()["verdict"] == "fail"
    assert r.json()["items"][0]["findings"][0]["rule_id"].startswith("PRS")


def test_too_large_413(client: httpx.Client) -> None:
    big = b"<a>" + b"x" * (MAX + 10) + b"</a>"
    r = _check(client, big)
    assert r.status_code == 413 and r.json()["error"] == "too-large"

    def chunks():  # no Content-Length: the cap applies while streaming
        for _ in range(30):
            yield b"<!-- " + b"y" * 10_000 + b" -->"

    r = client.post("/v1/check", content=chunks())
    assert r.status_code == 413


def test_token_required(server: Server) -> None:
    data = (DOCS / "ldl-ses-n1.xml").read_bytes()
    assert httpx.post(server.url + "/v1/check", content=data).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    r = httpx.post(server.url + "/v1/check", content=data, headers=wrong)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(server.url + "/v1/rules").status_code == 401
    assert httpx.get(server.url + "/metrics").status_code == 401
    assert httpx.get(server.url + "/healthz").status_code == 200  # probes need no token


def test_rules_endpoint_is_the_registry(client: httpx.Client) -> None:
    from cdacheck.registry import load_all

    rules = client.get("/v1/rules").json()
    assert [r["id"] for r in rules] == [r.id for r in load_all()]
    assert {"id", "severity", "summary", "message", "source"} <= set(rules[0])


def test_metrics(client: httpx.Client, server: Server) -> None:
    _check(client, (DOCS / "ldl-ses-n1.xml").read_bytes())
    text = client.get("/metrics").text
    for name in ("cdacheck_requests_total", "cdacheck_request_duration_seconds_bucket",
                 "cdacheck_verdicts_total", "cdacheck_indicators_total", "cdacheck_queue_depth",
                 "cdacheck_in_flight", "cdacheck_workers_ready"):
        assert name in text, name
    assert 'cdacheck_indicators_total{indicator="DS 1.1"}' in text
    assert server.metric("cdacheck_workers_ready") == 2


def test_openapi_describes_every_route(server: Server, client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    from cdacheck.config import Settings
    from cdacheck.service.app import Service, ServiceConfig

    app = Service(ServiceConfig(settings=Settings(), workers=1)).app()
    routes = {r.path: {m.lower() for m in r.methods} - {"head"} for r in app.routes}
    assert {p: set(v) for p, v in doc["paths"].items()} == routes


def test_nothing_written_and_logs_carry_hash_not_content(server: Server, client: httpx.Client) -> None:
    import hashlib

    data = (DOCS / "ldl-ses-n1.xml").read_bytes()
    _check(client, data)
    log = server.log_text()
    assert f"sha256={hashlib.sha256(data).hexdigest()[:16]}" in log and "verdict=pass" in log
    for secret in (b"MARIE", b"279035121518989", b"ClinicalDocument"):
        assert secret.decode() not in log
    written = [p for p in server.tmpdir.rglob("*") if p.is_file()]
    written += [p for p in server.log.parent.iterdir() if p.name not in ("serve.log", "token", "tmp")]
    assert written == []


def test_core_imports_without_the_extra_and_serve_says_what_to_install() -> None:
    code = ("import sys\n"
            "for m in ('starlette', 'uvicorn', 'prometheus_client'): sys.modules[m] = None\n"
            "import cdacheck, cdacheck.cli, cdacheck.batch\n"
            "assert cdacheck.check(sys.argv[1], env='test').summary.failed is False\n"
            "sys.exit(cdacheck.cli.main(['serve', '--port', '0']))\n")
    r = subprocess.run([sys.executable, "-c", code, str(DOCS / "ldl-ses-n1.xml")],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2, r.stderr
    assert "pip install 'cdacheck[serve]'" in r.stderr and "Traceback" not in r.stderr


def test_bad_kit_exits_2(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "cdacheck", "serve", "--port", "0", "--kit",
                        str(tmp_path)], capture_output=True, timeout=60, check=False)
    assert r.returncode == 2 and b"kit" in r.stderr


def _server_side_nodelay(make_sock: Any, protocol: type, kwargs: Any = lambda loop: {}) -> int:
    """Accept one connection on ``make_sock()`` with ``protocol(**kwargs(loop))``; the
    accepted socket's TCP_NODELAY value, read just after ``connection_made``."""
    import asyncio
    import socket

    seen: list[int] = []

    class Recording(protocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            s = transport.get_extra_info("socket")
            seen.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        sock = make_sock()
        sock.listen()
        sock.setblocking(False)
        server = await loop.create_server(lambda: Recording(**kwargs(loop)), sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    assert seen, "no connection accepted"
    return seen[0]


def test_accepted_connections_have_tcp_nodelay() -> None:
    """The root cause of about 40 ms added to every answer: uvicorn writes a response's head
    and body in two writes, and with Nagle's algorithm on the server's socket the body waited
    for the client's delayed ACK. asyncio sets TCP_NODELAY only on sockets whose proto is
    IPPROTO_TCP; ``bind()`` used to make proto-0 sockets. Both guards are checked: the socket
    ``bind()`` makes, and the protocol setting the option even on a proto-0 socket."""
    import asyncio
    import socket

    import uvicorn
    from uvicorn.server import ServerState

    from uvicorn.protocols.http.h11_impl import H11Protocol

    from cdacheck.service.server import _guarded_protocol, bind, http_protocol

    assert _server_side_nodelay(lambda: bind("127.0.0.1", 0), asyncio.Protocol) != 0

    async def app(scope: Any, receive: Any, send: Any) -> None:  # never called
        raise AssertionError

    config = uvicorn.Config(app, log_config=None, lifespan="off")

    def proto0() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0: asyncio skips it
        sock.bind(("127.0.0.1", 0))
        return sock

    assert _server_side_nodelay(proto0, asyncio.Protocol) == 0  # the trap, still there
    for base in {H11Protocol, http_protocol()}:
        assert _server_side_nodelay(proto0, _guarded_protocol(5.0, base), lambda loop: {
            "config": config, "server_state": ServerState(), "app_state": {}, "_loop": loop}) != 0


def test_http_parser_is_httptools_when_installed() -> None:
    """The serve extra brings httptools: uvicorn's h11 protocol, pure Python, cost about 40 %
    of the server process's CPU per request."""
    import importlib.util

    from cdacheck.service.server import http_protocol

    if importlib.util.find_spec("httptools") is None:
        pytest.skip("httptools is not installed (pip install 'cdacheck[serve]')")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert http_protocol() is HttpToolsProtocol
