"""Real daemons and a real headless Chromium for the web app's end-to-end tests.

Daemons are the built `syncd` processes on 127.0.0.1 with their own data
directories; the browser is Debian's chromium driven by chromedriver.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SYNCD_BIN", os.path.join(ROOT, ".build", "debug"))
SCREENSHOTS = os.environ.get("UI_SCREENSHOTS", os.path.join(ROOT, "docs", "ui"))

FAST = """
reconnect:
  initial_ms: 100
  max_ms: 1000
keepalive_seconds: 1
idle_timeout_seconds: 5
digest_interval_seconds: 1
local_poll_ms: 50
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(condition, timeout=20.0, every=0.05, message="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = condition()
            if last:
                return last
        except Exception as error:  # a page still loading, a daemon still starting
            last = error
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {message} (last: {last!r})")


class Daemon:
    """One analyst's syncd, started and stopped as a real process."""

    def __init__(self, root, name):
        self.name = name
        self.dir = os.path.join(root, name)
        self.port = free_port()
        self.ui_port = free_port()
        self.process = None
        self.log_path = os.path.join(root, name + ".log")
        self.ctl("init", "--name", name)
        with open(os.path.join(self.dir, "config.yaml"), "w") as f:
            f.write(f"listen: 127.0.0.1:{self.port}\nauthor: {name}\ndevice_name: {name}\npeers: []\n{FAST}")
        self.device_id = self.ctl("id").strip()

    def ctl(self, *args, check=True):
        result = subprocess.run([os.path.join(BIN, "syncctl"), *args, "--data-dir", self.dir], capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"syncctl {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result.stdout

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([os.path.join(BIN, "syncd"), "--data-dir", self.dir, "--ui", f"127.0.0.1:{self.ui_port}"],
                                        stdout=subprocess.PIPE, stderr=log, text=True)
        eventually(lambda: self._ready(), timeout=30, message=f"{self.name} to serve the web app")

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited: {open(self.log_path).read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.ui_port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.ui_port}"

    def login_url(self):
        return self.ctl("ui").strip()

    def peer_with(self, other, dial=True):
        args = ["peers", "add", other.device_id, "--name", other.name]
        if dial:
            args += ["--address", f"127.0.0.1:{other.port}"]
        self.ctl(*args)

    def conflicts(self):
        return json.loads(self.ctl("conflicts", "--json"))

    def get(self, ref):
        return json.loads(self.ctl("get", ref, "--json"))


class Browser:
    """A headless Chromium logged in to one daemon."""

    def __init__(self, width=1280, height=900):
        options = Options()
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                         "--disable-gpu", "--lang=en-GB"]:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
        self.driver.implicitly_wait(0)

    def login(self, daemon):
        self.driver.get(daemon.login_url())
        eventually(lambda: self.driver.find_element("css selector", "h1").text == "Overview", message="the overview after login")

    def open(self, daemon, hash_path):
        self.driver.get(daemon.base + "/#" + hash_path)

    def wait_text(self, selector, text, timeout=20):
        return eventually(lambda: text in self.driver.find_element("css selector", selector).text, timeout=timeout,
                          message=f"'{text}' in {selector}")

    def screenshot(self, name):
        os.makedirs(SCREENSHOTS, exist_ok=True)
        self.driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png"))

    def console_errors(self):
        return [entry for entry in self.driver.get_log("browser")
                if entry["level"] == "SEVERE" and "favicon" not in entry["message"] and "api/v1/events" not in entry["message"]]

    def quit(self):
        self.driver.quit()


def temporary_root():
    return tempfile.mkdtemp(prefix="syncd-browser-")
