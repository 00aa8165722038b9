"""Office documents (.docx .doc .odt .rtf .pptx .ppt .odp .xls .ods) via a sealed LibreOffice, then as PDF.

One converter per run: LibreOffice (soffice.bin) started on first need, driven over UNO by
office_worker.py under Debian's python3, reused for every document, killed and restarted after a crash,
a time-out or going over its memory budget. Sealing:
1. No network: the converter runs in its own empty network namespace (`unshare -n`) where the kernel
   allows it; otherwise every proxy setting (environment and LibreOffice's own) points at a closed port.
2. A fresh throw-away profile per run (-env:UserInstallation in a private temp folder, deleted at close),
   seeded with: macros disabled (security level "very high", macro execution off), links from documents
   blocked (BlockUntrustedRefererLinks), no update checks.
3. Every document is loaded hidden, read-only, with MacroExecutionMode NEVER_EXECUTE and UpdateDocMode
   NO_UPDATE, from a private copy in an empty folder, so relative links point at nothing.
4. Zip containers are checked before LibreOffice sees them: not a zip, encrypted (an OLE container
   holding EncryptedPackage) or declaring more than max_unzipped_mb uncompressed are refused.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import zipfile

from ..errors import RenderError, SetupError
from ..pids import scratch, scratch_dir
from .discover import suffix_of

__all__ = ["OfficeConverter", "render_office", "find_soffice", "OfficeNotFound", "OFFICE_ENDINGS"]

OFFICE_ENDINGS = (".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".odp", ".xls", ".ods")
_ZIPPED = (".docx", ".pptx", ".odt", ".odp", ".ods")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PACKAGES = "libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno"
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "office_worker.py")
MAX_UNZIPPED_MB = 512
_DEAD_PORT = "127.0.0.1:9"  # the discard port: nothing listens there

_PROFILE_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="UseLocking" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Jobs/Jobs/org.openoffice.Office.Jobs:Job['UpdateCheck']/Arguments"><prop oor:name="AutoCheckEnabled" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetProxyType" oor:op="fuse"><value>2</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPSProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPSProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetNoProxy" oor:op="fuse"><value></value></prop></item>
</oor:items>
"""


class OfficeNotFound(SetupError):
    """LibreOffice (or the python3-uno bridge that drives it) is not installed."""


def find_soffice() -> str:
    """Path of soffice.bin (LibreOffice's real program, without its start-up script)."""
    explicit = os.environ.get("SHOTDEX_SOFFICE")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise OfficeNotFound(f"SHOTDEX_SOFFICE={explicit} is not a program; LibreOffice: apt-get install {PACKAGES}")
    candidates = ["/usr/lib/libreoffice/program/soffice.bin", "/opt/libreoffice/program/soffice.bin"]
    which = shutil.which("soffice")
    if which:
        candidates.append(os.path.join(os.path.dirname(os.path.realpath(which)), "soffice.bin"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise OfficeNotFound(f"LibreOffice is not installed: apt-get install {PACKAGES} (or set SHOTDEX_SOFFICE)")


def _system_python() -> str:
    """A python3 that can import uno (Debian's python3-uno is built for the system python only)."""
    for py in ("/usr/bin/python3", shutil.which("python3") or ""):
        if py and os.path.isfile(py):
            ok = subprocess.run([py, "-I", "-c", "import uno"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode == 0
            if ok:
                return py
    raise OfficeNotFound(f"LibreOffice's Python bridge is missing: apt-get install {PACKAGES}")


def network_isolation() -> str:
    """'namespace' when `unshare -n` works here (the converter then has no network at all), else 'proxy'."""
    unshare = shutil.which("unshare")
    if not unshare:
        return "proxy"
    for args in ([unshare, "-n", "true"], [unshare, "-rn", "true"]):
        try:
            if subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0:
                return "namespace" if args[1] == "-n" else "namespace-user"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "proxy"


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB), from /proc."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


class OfficeConverter:
    """One sealed LibreOffice for a run. convert(src, pdf) -> None or raises RenderError (one line)."""

    def __init__(self, timeout_s: float = 30.0, max_mb: int = 2048, isolation: str | None = None):
        self.timeout_s = timeout_s
        self.max_mb = max_mb
        self.proc: subprocess.Popen | None = None
        self.tmp: str | None = None
        self.isolation = isolation  # None: network_isolation() decides on first start
        self.peak_mb = 0.0
        self.starts = 0

    # -- lifetime ---------------------------------------------------------------------------
    def start(self) -> None:
        soffice = find_soffice()
        python = _system_python()
        if self.isolation is None:
            self.isolation = network_isolation()
        self.tmp = scratch_dir("office")
        profile = os.path.join(self.tmp, "profile")
        os.makedirs(os.path.join(profile, "user"))
        with open(os.path.join(profile, "user", "registrymodifications.xcu"), "w") as f:
            f.write(_PROFILE_XCU)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        for k in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy"):
            env[k] = env[k.upper()] = f"http://{_DEAD_PORT}"
        env.update(HOME=self.tmp, TMPDIR=self.tmp, SAL_USE_VCLPLUGIN="svp", no_proxy="", NO_PROXY="")
        cmd = [python, "-I", _WORKER, soffice, "file://" + profile, f"shotdex{uuid.uuid4().hex}"]
        if self.isolation == "namespace":
            cmd = ["unshare", "-n", *cmd]
        elif self.isolation == "namespace-user":
            cmd = ["unshare", "-rn", *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=self.tmp, start_new_session=True)
        self.starts += 1
        answer = self._answer(max(60.0, self.timeout_s), "start")
        if not answer.get("ready"):
            self.close()
            raise RenderError("LibreOffice", f"converter did not start ({answer.get('error', 'no answer')})")

    def close(self) -> None:
        """End the converter (its whole process group) and delete its profile."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.poll() is None and proc.stdin:
                    proc.stdin.close()
                    proc.wait(3)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill(proc)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def kill(self) -> None:
        """Kill the converter now (safe from another thread: an interrupted run); restarted on next need."""
        proc = self.proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def _kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    # -- one document -----------------------------------------------------------------------
    def _answer(self, seconds: float, what: str) -> dict:
        """The worker's next answer line, watching time and memory; kills the converter when over."""
        proc = self.proc
        deadline = time.monotonic() + seconds
        buf = b""
        fd = proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill(proc)
                self.close()
                raise RenderError(what, f"LibreOffice took longer than {seconds:g} s (converter killed and restarted)")
            ready, _, _ = select.select([fd], [], [], min(0.1, left))
            mb = _rss_mb(proc.pid)
            self.peak_mb = max(self.peak_mb, mb)
            if mb > self.max_mb:
                self._kill(proc)
                self.close()
                raise RenderError(what, f"LibreOffice used more than {self.max_mb} MB (converter killed and restarted)")
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.close()
                raise RenderError(what, "LibreOffice crashed (converter restarted)")
            buf += chunk
            if b"\n" in buf:
                return json.loads(buf.split(b"\n", 1)[0])

    def convert(self, source: str, pdf: str) -> None:
        """Convert a private copy of source into pdf; raises RenderError naming what went wrong."""
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.start()
        work = tempfile.mkdtemp(prefix="doc-", dir=self.tmp)
        try:
            copy = os.path.join(work, "document" + suffix_of(source))
            shutil.copyfile(source, copy)
            self.proc.stdin.write((json.dumps({"in": copy, "out": pdf}) + "\n").encode())
            self.proc.stdin.flush()
            answer = self._answer(self.timeout_s, source)
        except (BrokenPipeError, OSError) as e:
            self.close()
            raise RenderError(source, f"LibreOffice crashed (converter restarted; {e})") from None
        finally:
            if self.tmp:
                shutil.rmtree(work, ignore_errors=True)
        if "error" in answer:
            raise RenderError(source, answer["error"])


def check_container(source: str, max_unzipped_mb: int = MAX_UNZIPPED_MB) -> None:
    """Refuse, before LibreOffice sees it, an empty file, an encrypted OOXML file, a zip-based format that
    is not a zip, and a zip declaring more than max_unzipped_mb uncompressed (a zip bomb)."""
    size = os.path.getsize(source)
    if size == 0:
        raise RenderError(source, "empty file")
    with open(source, "rb") as f:
        head = f.read(8)
    ending = suffix_of(source)
    if head == _OLE and ending in _ZIPPED + (".xlsx",):
        raise RenderError(source, "password-protected (encrypted) document; shotdex cannot open it")
    if ending not in _ZIPPED:
        return
    try:
        with zipfile.ZipFile(source) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise RenderError(source, f"corrupt document (not a readable zip archive: {e})") from None
    declared = sum(i.file_size for i in infos)
    if declared > max_unzipped_mb * 1024 * 1024:
        raise RenderError(source, f"refused: declares {declared / 2**20:,.0f} MB uncompressed from "
                                  f"{size / 2**20:,.1f} MB (a zip bomb?); the limit is {max_unzipped_mb} MB")
    if ending.startswith(".od") and "META-INF/manifest.xml" in names:
        with zipfile.ZipFile(source) as z:
            manifest = z.read("META-INF/manifest.xml")[:1_000_000]
        if b"encryption-data" in manifest:
            raise RenderError(source, "password-protected (encrypted) document; shotdex cannot open it")
    if ending in (".docx", ".pptx") and "[Content_Types].xml" not in names:
        raise RenderError(source, "corrupt document (no [Content_Types].xml: not an Office Open XML file)")


def render_office(job) -> None:
    """Convert an office document to PDF with the run's converter, then one tile per page/slide."""
    from .pdf import render_pdf

    check_container(job.source)
    converter = job.office
    if converter is None:
        raise RenderError(job.source, "no office converter in this run")
    with scratch("pdf") as folder:
        pdf = os.path.join(folder, "document.pdf")
        try:
            converter.convert(job.source, pdf)
        except RenderError as e:
            raise RenderError(job.source, e.reason) from None
        if not os.path.isfile(pdf) or os.path.getsize(pdf) == 0:
            raise RenderError(job.source, "LibreOffice produced no pages")
        render_pdf(job, path=pdf)
