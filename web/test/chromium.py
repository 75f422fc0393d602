"""Headless Chromium driven over the DevTools protocol, with the standard library alone.

Chromium (Debian's `chromium` package) is started with --remote-debugging-pipe: protocol
messages are NUL-terminated JSON on its file descriptors 3 (commands in) and 4 (replies and
events out), so no WebSocket client and no browser download is needed. Used by the page test
(tests/web/test_wasm_page.py) and the speed report (bench/bench_wasm.py).

    with StaticServer({"/": web_dir, "/data/": data_dir}) as server, Chromium() as browser:
        page = browser.new_page()
        page.navigate(server.url + "/index.html")
        page.set_file_input("#file", path)
        page.wait_for("document.body.dataset.state === 'done'")
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


class BrowserError(RuntimeError):
    pass


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("no Chromium found (apt-get install chromium)")


class Chromium:
    """One headless browser process; pages are targets attached in flat session mode."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="nnz-chromium-")
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()
        # The child's ends, moved to descriptors above 4 (close-on-exec), so that putting them
        # on 3 and 4 in the child cannot overwrite one with the other. Python's own descriptors
        # are not inherited (PEP 446): only 3 and 4, made by dup2, reach Chromium.
        child_r, child_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in (commands_r, replies_w))
        os.close(commands_r)
        os.close(replies_w)

        def to_fds_3_and_4() -> None:  # in the child, before exec
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        args = [binary or chromium_binary(), "--headless=new", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        self.proc = subprocess.Popen(args, close_fds=False, preexec_fn=to_fds_3_and_4,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(child_r)
        os.close(child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, queue.Queue] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        while chunk := os.read(self._replies, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                waiting = self._waiting.pop(message["id"], None) if "id" in message else None
                if waiting is not None:
                    waiting.put(message)
                else:
                    self.events.append(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            reply: queue.Queue = queue.Queue()
            self._waiting[ident] = reply
            message = {"id": ident, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            os.write(self._commands, json.dumps(message).encode() + b"\0")
        try:
            answer = reply.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise BrowserError(f"{method}: no reply from Chromium in {timeout or self.timeout:.0f} s") from None
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    def __init__(self, browser: Chromium, session: str):
        self.browser = browser
        self.session = session
        self.first_event = 0  # messages() looks at events from here on (set by navigate)
        for domain in ("Page", "Runtime"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session, timeout)

    def messages(self) -> list[str]:
        """Console output and uncaught exceptions of the page loaded last."""
        out = []
        for e in self.browser.events[self.first_event:]:
            if e.get("sessionId") != self.session:
                continue
            if e["method"] == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                details = e["params"]["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details.get("text", ""))
        return out

    def navigate(self, url: str) -> None:
        """Loads url and waits until its load event (not the previous document's)."""
        self.first_event = len(self.browser.events)
        self.evaluate("window.__previous_document = true")
        self.send("Page.navigate", {"url": url})
        self.wait_for("!window.__previous_document && document.readyState === 'complete'")

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": await_promise})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout or self.browser.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise BrowserError(f"timed out waiting for {expression!r}; page messages: {self.messages()}")

    def set_file_input(self, selector: str, path: Path | list[Path]) -> None:
        """Chooses a file (or several, for an input with `multiple`) in an <input type=file>, as a
        user would (fires its change event)."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise BrowserError(f"no element matches {selector!r}")
        paths = path if isinstance(path, list) else [path]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(Path(p).resolve()) for p in paths]})


class StaticServer:
    """Serves folders over HTTP on 127.0.0.1 (a free port): {url prefix: folder}. Localhost is a
    secure context, so pages get module workers and crypto.subtle."""

    TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
             ".html": "text/html", ".nnz": "application/octet-stream"}

    def __init__(self, routes: dict[str, Path]):
        self.routes = sorted(((prefix, Path(folder).resolve()) for prefix, folder in routes.items()),
                             key=lambda r: -len(r[0]))
        handler = functools.partial(_Handler, server_routes=self.routes, types=self.TYPES)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, server_routes, types, **kw):
        self.server_routes = server_routes
        self.extensions_map = {**self.extensions_map, **types}
        super().__init__(*args, **kw)

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, folder in self.server_routes:
            if path.startswith(prefix):
                target = (folder / path[len(prefix):].lstrip("/")).resolve()
                if target == folder or folder in target.parents:
                    return str(target)
        return str(Path(tempfile.gettempdir()) / "nnz-no-such-file")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass
