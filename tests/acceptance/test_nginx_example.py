"""docs/deploy/matchday.nginx.conf: a real nginx accepts it, and it limits the request rate of
sign-ins and of the API per client (429 past the burst) while the pages pass."""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stats.processes import REPO_ROOT, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = REPO_ROOT / "docs" / "deploy" / "matchday.nginx.conf"

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists() or shutil.which("openssl") is None,
    reason="needs nginx and openssl (apt-get install nginx-light openssl)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Upstream(http.server.BaseHTTPRequestHandler):
    """Stands in for gunicorn: 200 to everything."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[int]:
    """The example, as written but for its ports, certificate and folders, in front of a stand-in
    for gunicorn; yields its HTTPS port."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = free_port(), free_port()
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=stats.example.org", "-keyout", str(tmp_path / "key.pem")),
            *("-out", str(tmp_path / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    site = (
        EXAMPLE.read_text()
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("listen [::]:80;", "")
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        .replace("listen [::]:443 ssl http2;", "")
        .replace(
            "/etc/letsencrypt/live/stats.example.org/fullchain.pem", str(tmp_path / "cert.pem")
        )
        .replace("/etc/letsencrypt/live/stats.example.org/privkey.pem", str(tmp_path / "key.pem"))
        .replace("127.0.0.1:8000", f"127.0.0.1:{upstream.server_address[1]}")
    )
    assert "127.0.0.1:8000" not in site
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "user root;\n"
        "events {}\n"
        "http {\n"
        "  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {tmp_path}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {tmp_path}/site.conf;\n"
        "}\n"
    )
    arguments = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*arguments, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen([*arguments, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", https_port)) == 0

        wait_until(listening, timeout=10, what="nginx to listen")
        yield https_port
    finally:
        server.terminate()
        server.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


def statuses(port: int, path: str, count: int, method: str = "GET") -> list[int]:
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    answers = []
    for _ in range(count):
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}{path}",
            method=method,
            data=b"" if method == "POST" else None,
            headers={"Host": "stats.example.org"},
        )
        try:
            with urllib.request.urlopen(request, context=insecure, timeout=10) as response:  # noqa: S310
                answers.append(response.status)
        except urllib.error.HTTPError as refused:
            answers.append(refused.code)
    return answers


def test_sign_ins_are_limited_per_client(proxy: int) -> None:
    """Before: no limit_req in the example; every try reached gunicorn (and a password hash)."""
    started = time.monotonic()
    answers = statuses(proxy, "/admin/login/", 12, method="POST")
    assert time.monotonic() - started < 6  # well inside one 6-second token of 10 a minute
    assert answers == [200] * 6 + [429] * 6  # one at the rate, five in the burst


def test_token_logins_under_the_api_share_the_sign_in_limit(proxy: int) -> None:
    answers = statuses(proxy, "/api/auth/token", 8, method="POST")
    assert answers == [200] * 6 + [429] * 2


def test_the_api_is_limited_per_client_and_the_pages_are_not(proxy: int) -> None:
    api = statuses(proxy, "/api/leaderboard", 60)
    assert api[:41] == [200] * 41
    assert 429 in api[41:]
    assert statuses(proxy, "/leaderboard/", 60) == [200] * 60
