"""Fixtures for the real-browser tests: a private JupyterLab server and a headless Chromium page.

* ``chromium_path``: Debian's ``chromium`` (installed by ``.ci/install_browser.sh``). Playwright drives
  this system binary; ``playwright install`` is never used. Without it the tests skip, except when
  the ``CI`` environment variable is set: then they fail.
* ``jupyterlab_server`` (session): JupyterLab on a free 127.0.0.1 port with a token, a temporary
  root dir, private config/data/runtime/settings/workspaces dirs (news and update checks off,
  notebook ``autoStartDefaultKernel: true``) and a ``python3`` kernel spec that runs this interpreter.
* ``page``: a Playwright (sync API) page in a fresh persistent Chromium profile. On test failure a
  screenshot, the page's console log and the server log are written to ``artifacts/``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--password-store=basic",
]

SERVER_START_TIMEOUT_S = 90.0
_SERVER_FAILED = False  # set when any test using the server fails; the server log is then printed


def artifact_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::")[-1])[:80]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    if rep.failed and "jupyterlab_server" in getattr(item, "fixturenames", ()):
        global _SERVER_FAILED
        _SERVER_FAILED = True


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``artifacts/`` in the repo root (git-ignored): screenshots and logs of the browser tests."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# ----------------------------------------------------------------------------------------- chromium
@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        msg = "Debian `chromium` is not on PATH; run `bash .ci/install_browser.sh` (needs root + apt)"
        if os.environ.get("CI"):
            pytest.fail(msg + " [CI is set, so this is a failure, not a skip]")
        pytest.skip(msg)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - dev extra missing
        if os.environ.get("CI"):
            pytest.fail(f"the `playwright` PyPI package is missing: {exc}")
        pytest.skip(f"the `playwright` PyPI package is missing: {exc}")
    return path


# ---------------------------------------------------------------------------------------- jupyterlab
def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


@dataclass
class JupyterLabServer:
    root_dir: Path
    port: int
    token: str
    log_path: Path
    proc: subprocess.Popen = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, relpath: str, workspace: str | None = None) -> str:
        """The notebook in a fresh workspace (``?reset``): no tabs restored from an earlier test."""
        ws = workspace or f"srw-{os.urandom(4).hex()}"
        return self.url(f"lab/workspaces/{ws}/tree/{relpath}?reset")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _get_json(self, path: str, timeout: float):
        req = urllib.request.Request(
            f"{self.base_url}/{path.lstrip('/')}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def api(self, path: str, timeout: float = 5.0):
        return self._get_json(f"api/{path.lstrip('/')}", timeout)

    def shutdown_kernels(self) -> None:
        """Stop every kernel of the server (between tests: frees the CPU for the next one)."""
        for k in self.api("kernels"):
            req = urllib.request.Request(
                f"{self.base_url}/api/kernels/{k['id']}", method="DELETE",
                headers={"Authorization": f"token {self.token}"},
            )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=10).close()

    def lab_api(self, path: str, timeout: float = 10.0):
        return self._get_json(f"lab/api/{path.lstrip('/')}", timeout)


_SETTINGS = {
    # no news feed, no update check (no network, no toast over the page)
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # In JupyterLab 4.x ``autoStartDefaultKernel`` belongs to the notebook tracker plugin (in the docmanager
    # plugin's file it would fail validation, and the whole file would be ignored).
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
}


def _start_server(base: Path) -> JupyterLabServer:
    root = base / "root"
    root.mkdir()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        IPYTHONDIR=str(base / "ipython"),
        PYTHONUNBUFFERED="1",
        # keep the kernel polite on shared 2-core machines
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
        MKL_NUM_THREADS=env.get("MKL_NUM_THREADS", "2"),
    )
    env["JUPYTER_PREFER_ENV_PATH"] = "0"  # our private data dir (and its python3 spec) before the venv's
    # user settings files are <settings dir>/<package>/<plugin>.jupyterlab-settings (jupyterlab_server's
    # SETTINGS_EXTENSION); a file that fails schema validation is silently ignored.
    for plugin, values in _SETTINGS.items():
        package, name = plugin.split(":")
        _write_json(base / "settings" / package / f"{name}.jupyterlab-settings", values)
    # A python3 kernel spec in the private data dir (it shadows any other) running *this* interpreter on
    # *this* working tree: the repo root leads the kernel's sys.path, as the cwd does for `python -m pytest`
    # (so a stale editable install cannot hand the kernel another srwidgets than the one under test).
    kernel_pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    _write_json(
        base / "data" / "kernels" / "python3" / "kernel.json",
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "env": {"PYTHONPATH": kernel_pythonpath},
            "display_name": "Python 3 (srwidgets test venv)",
            "language": "python",
            "metadata": {"debugger": False},
        },
    )
    token = os.urandom(16).hex()
    port = _free_port()
    log_path = base / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--allow-root",
        "--no-browser",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        "--KernelSpecManager.ensure_native_kernel=False",
        "--ServerApp.shutdown_no_activity_timeout=1800",
    ]
    logf = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    logf.close()
    server = JupyterLabServer(root_dir=root, port=port, token=token, log_path=log_path, proc=proc)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode} during start-up:\n{server.log()}")
        try:
            server.api("status", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            if time.monotonic() > deadline:
                _stop(proc)
                raise RuntimeError(
                    f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT_S:.0f}s:\n{server.log()}"
                )
            time.sleep(0.25)
    # the server really picked up our user settings (a wrong file name or schema is silently ignored)
    for plugin, expected in _SETTINGS.items():
        got = server.lab_api(f"settings/{plugin}").get("settings", {})
        if any(got.get(k) != v for k, v in expected.items()):
            _stop(proc)
            raise RuntimeError(f"JupyterLab ignored the user settings for {plugin}: {got} != {expected}")
    specs = server.api("kernelspecs")
    py3 = specs.get("kernelspecs", {}).get("python3", {}).get("spec", {})
    if py3.get("argv", [None])[0] != sys.executable:
        _stop(proc)
        raise RuntimeError(f"python3 kernel spec does not use {sys.executable}: {py3}")
    return server


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    # the server runs in its own session (process group): stop it and the kernels it started
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def jupyterlab_server(chromium_path):
    t0 = time.monotonic()
    for attempt in range(3):
        base = Path(tempfile.mkdtemp(prefix="srw-jlab-"))
        try:
            server = _start_server(base)
            break
        except RuntimeError as exc:
            shutil.rmtree(base, ignore_errors=True)
            # the free port was taken between our probe and the server's bind: try another one
            if attempt == 2 or "already in use" not in str(exc).lower():
                raise
    print(f"\n[browser] JupyterLab up on {server.base_url} in {time.monotonic() - t0:.1f}s (root {server.root_dir})")
    try:
        yield server
    finally:
        _stop(server.proc)
        log = server.log()
        if _SERVER_FAILED:
            with contextlib.suppress(OSError):
                artifact_path("jupyterlab_server.log").write_text(log)
            print("\n========== JupyterLab server log ==========\n" + log[-20000:])
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------------- page
@pytest.fixture
def page(request, chromium_path, jupyterlab_server, tmp_path):
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            device_scale_factor=1,
            timeout=60_000,
        )
        try:
            pg = context.pages[0] if context.pages else context.new_page()
            pg.set_default_timeout(30_000)
            t0 = time.monotonic()
            pg.on("console", lambda m: console.append(f"[{time.monotonic() - t0:7.2f}s] {m.type}: {m.text}"))
            pg.on("pageerror", lambda e: console.append(f"[{time.monotonic() - t0:7.2f}s] pageerror: {e}"))
            yield pg
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:
                name = _safe_name(request.node.nodeid)
                with contextlib.suppress(Exception):
                    pg.screenshot(path=str(artifact_path(f"{name}_failure.png")), full_page=True)
                with contextlib.suppress(OSError):
                    artifact_path(f"{name}_console.log").write_text("\n".join(console) + "\n")
                with contextlib.suppress(OSError):
                    artifact_path("jupyterlab_server.log").write_text(jupyterlab_server.log())
                print(f"\n========== browser console ({name}) ==========\n" + "\n".join(console[-200:]))
        finally:
            with contextlib.suppress(Exception):
                context.close()
            with contextlib.suppress(Exception):
                jupyterlab_server.shutdown_kernels()
