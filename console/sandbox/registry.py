"""A real schema registry for the sandbox: Apicurio Registry, run from Maven Central.

Apicurio Registry 2.6 serves the Confluent-compatible registry API at
``/apis/ccompat/v7``, which confluent-kafka's ``SchemaRegistryClient`` speaks, so the
comparison and the governance diff are tested against a registry that is not ours.
Its runnable distribution (a Quarkus runner jar with its ``lib/``) is fetched once
through ``registry-pom.xml`` into the jar cache and unpacked there; later starts need
neither Maven nor the network. Data lives in memory (H2): each start is empty.

One JVM per registry (the sandbox's source and target each get one when asked), on a
free loopback port, with the same small heap and JIT settings as the brokers.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from console.sandbox.jars import default_cache_dir, find_java, tail_file
from console.sandbox.state import SandboxError

APICURIO_VERSION = "2.6.13.Final"
POM_PATH = Path(__file__).with_name("registry-pom.xml")
RUNNER = f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
CCOMPAT = "/apis/ccompat/v7"
JVM_OPTIONS = ("-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


def fetch_registry(cache_dir: Path | None = None) -> Path:
    """The unpacked Apicurio distribution (fetched with Maven the first time)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / f"apicurio-{APICURIO_VERSION}"
    if (dest / RUNNER).is_file():
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SandboxError(
            "Maven (mvn), needed once to fetch Apicurio Registry, is not on PATH",
            hint="install Apache Maven 3.6+, e.g. `apt-get install maven`",
        )
    find_java()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".apicurio-", dir=cache))
    try:
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM_PATH),
                "dependency:unpack-dependencies",
                f"-DoutputDirectory={tmp}",
                "-DincludeTypes=zip",
                # The plugin remembers what it unpacked in marker files (by default next
                # to the POM, in the source tree) and then skips it: keep them in tmp.
                f"-DmarkersDirectory={tmp / '.markers'}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0 or not (tmp / RUNNER).is_file():
            raise SandboxError(
                f"Maven could not fetch Apicurio Registry {APICURIO_VERSION} "
                f"(exit code {proc.returncode})",
                hint="check network access to Maven Central and ~/.m2/settings.xml",
                details="\n".join((proc.stdout + proc.stderr).splitlines()[-15:]),
            )
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / RUNNER).is_file():  # another process won the same fetch
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RegistryServer:
    """One Apicurio Registry process on loopback."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        """The Confluent-compatible API's base URL (what a plan's schema_registry_url is)."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT}"

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_registry(
    name: str, root: Path, *, cache_dir: Path | None = None, wait: bool = True
) -> RegistryServer:
    """Start an empty registry; with ``wait``, return once it answers (or raise)."""
    home = fetch_registry(cache_dir)
    java = find_java()
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = root / f"registry-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                java,
                *JVM_OPTIONS,
                f"-Dquarkus.http.port={port}",
                "-Dquarkus.http.host=127.0.0.1",
                "-Dquarkus.log.console.color=false",
                "-jar",
                str(home / RUNNER),
            ],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RegistryServer(name, port, process, log)
    if wait:
        wait_ready(server)
    return server


def wait_ready(server: RegistryServer, timeout: float = 120) -> None:
    """Wait until the registry answers its subject list; raise with its log if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SandboxError(
                f"the {server.name} schema registry exited with code {server.process.returncode}",
                hint=f"see {server.log}",
                details=tail_file(server.log),
            )
        try:
            with urllib.request.urlopen(f"{server.url}/subjects", timeout=2) as answer:
                json.loads(answer.read())
                return
        except (OSError, ValueError, urllib.error.URLError):
            time.sleep(0.5)
    server.stop()
    raise SandboxError(
        f"the {server.name} schema registry did not answer within {timeout:g} s",
        hint=f"see {server.log}",
        details=tail_file(server.log),
    )
