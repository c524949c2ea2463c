"""The Kafka jars and the JVM that runs them: Java found, jars fetched once with Maven.

Each Kafka version's classpath is fetched from Maven Central through ``pom.xml`` (one
profile per version) into ``~/.cache/cutover`` (``$CUTOVER_CACHE_DIR``) and reused
afterwards, so a cached classpath needs neither Maven nor the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from console.sandbox.state import SandboxError

# Kafka version -> Maven profile in pom.xml (one classpath per version).
SUPPORTED_VERSIONS: dict[str, str] = {"3.9.1": "kafka-3.9", "4.1.1": "kafka-4.1"}

POM_PATH = Path(__file__).with_name("pom.xml")
FETCH_MARKER = "cutover-fetch.json"
MIN_JAVA = 17  # Kafka 4.x brokers need Java 17; 3.9 runs on it too.

# Measured on a 2-core box (two brokers starting at once): C1-only JIT
# (TieredStopAtLevel=1) halves `up` from ~7 s to ~4 s, because C2 compiler threads no longer
# compete with startup for the cores, and it cost no measurable throughput with a Python
# producer at ~0.6M msg/s. SerialGC skips G1's helper threads, which matter on 2 cores.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- locations


def default_cache_dir() -> Path:
    """Jar cache: ``$CUTOVER_CACHE_DIR`` or ``~/.cache/cutover``."""
    env = os.environ.get("CUTOVER_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cutover"


# --------------------------------------------------------------------------- tools


def find_java() -> str:
    """Path of a Java 17+ ``java`` binary ($JAVA_HOME first, then PATH), or SandboxError."""
    java: str | None = None
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            java = str(candidate)
    java = java or shutil.which("java")
    if java is None:
        raise SandboxError(
            "Java not found (no java on PATH or in $JAVA_HOME)",
            hint=f"install a Java {MIN_JAVA}+ runtime "
            "(e.g. `apt-get install openjdk-17-jre-headless`)",
        )
    major = _java_major(java)
    if major is not None and major < MIN_JAVA:
        raise SandboxError(
            f"{java} is Java {major}, but Kafka 4.x needs Java {MIN_JAVA}+",
            hint=f"install a Java {MIN_JAVA}+ runtime and put it first on PATH or in $JAVA_HOME",
        )
    return java


def _java_major(java: str) -> int | None:
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # `java -version` writes to stderr, e.g. 'openjdk version "17.0.15"' or '"1.8.0_392"'.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _find_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SandboxError(
            "Maven (mvn), needed once to fetch the Kafka jars, is not on PATH",
            hint="install Apache Maven 3.6+, e.g. `apt-get install maven`",
        )
    return mvn


# --------------------------------------------------------------------------- jars


def fetch_jars(version: str, cache_dir: Path | None = None) -> Path:
    """Fetch the runtime jars of Kafka ``version`` into ``<cache>/kafka-<version>/``.

    Returns that folder (use ``<folder>/*`` as the classpath). A marker file written after
    a complete fetch makes later calls return at once without Maven, Java or the network;
    the marker records the pom.xml digest so editing the pom triggers a re-fetch.
    """
    profile = SUPPORTED_VERSIONS.get(version)
    if profile is None:
        raise SandboxError(
            f"unsupported Kafka version {version!r}",
            hint=f"use one of {', '.join(SUPPORTED_VERSIONS)}",
        )
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / f"kafka-{version}"
    pom_digest = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
    if _fetch_complete(dest, pom_digest):
        return dest

    mvn = _find_maven()
    find_java()  # Maven needs a JVM too; fail with the install hint rather than Maven's.
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # Fetch into a private folder and rename it into place, so an interrupted or
        # concurrent fetch never leaves a half-filled classpath behind the final name.
        tmp = Path(tempfile.mkdtemp(prefix=f".kafka-{version}-", dir=cache))
    except OSError as exc:
        raise SandboxError(
            f"cannot create the jar cache in {cache}: {exc.strerror}",
            hint="set $CUTOVER_CACHE_DIR to a writable directory",
        ) from exc
    try:
        jars = _maven_copy_dependencies(mvn, profile, version, tmp)
        marker = {
            "kafka_version": version,
            "profile": profile,
            "pom_sha256": pom_digest,
            "jars": jars,
        }
        (tmp / FETCH_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        try:
            tmp.rename(dest)
        except OSError as exc:
            # Another process may have finished the same fetch first; theirs is as good.
            if not _fetch_complete(dest, pom_digest):
                raise SandboxError(
                    f"cannot move the fetched jars into {dest}: {exc.strerror}",
                    hint="check the permissions of the jar cache ($CUTOVER_CACHE_DIR)",
                ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a successful rename
    return dest


def _maven_copy_dependencies(mvn: str, profile: str, version: str, out_dir: Path) -> list[str]:
    """Run Maven's copy-dependencies for one profile; return the jar names it wrote."""
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "-P",
        profile,
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}",
        "-DincludeScope=runtime",
    ]
    _log.info("fetching Kafka %s jars: %s", version, " ".join(cmd))
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(
            f"Maven took over 30 minutes fetching the Kafka {version} jars",
            hint="check network access to Maven Central",
        ) from exc
    jars = sorted(p.name for p in out_dir.glob("*.jar"))
    if proc.returncode != 0 or not jars:
        raise SandboxError(
            f"Maven could not fetch the Kafka {version} jars (exit code {proc.returncode})",
            hint="check network access to Maven Central and ~/.m2/settings.xml",
            details=_tail_text(proc.stdout + proc.stderr, 15),
        )
    return jars


def _fetch_complete(dest: Path, pom_digest: str) -> bool:
    try:
        marker = json.loads((dest / FETCH_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("pom_sha256") == pom_digest


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def tail_file(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a (possibly large) log file, or '' if unreadable."""
    try:
        with path.open("rb") as fh:
            # Logs can be large; the last 64 KiB hold far more than `lines` lines.
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return _tail_text(text, lines)
