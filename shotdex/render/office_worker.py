"""The LibreOffice side of the office converter. Run by Debian's python3 (which has `uno`), never imported.

    python3 office_worker.py SOFFICE PROFILE_URL PIPE_NAME

Starts soffice.bin headless on a private pipe with a throw-away profile, connects over UNO, then reads
one JSON request per line on stdin ({"in": path, "out": pdf path}) and answers one JSON line per request
on stdout ({"ok": true} or {"error": "..."}). Every document is loaded hidden, read-only, with macros
never executed and links never updated, then exported to PDF and closed. Stdout carries only answers.
"""

import json
import os
import subprocess
import sys
import time


def _prop(name, value):
    import uno  # noqa: F401
    from com.sun.star.beans import PropertyValue

    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def _connect(pipe: str, proc, deadline: float):
    import uno
    from com.sun.star.connection import NoConnectException

    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except NoConnectException:
            if proc.poll() is not None:
                raise RuntimeError(f"soffice exited with status {proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("soffice did not start within 60 s")
            time.sleep(0.1)


_FILTERS = {"writer": "writer_pdf_Export", "calc": "calc_pdf_Export", "impress": "impress_pdf_Export",
            "draw": "draw_pdf_Export"}


def _filter(doc) -> str:
    for service, name in (("com.sun.star.text.TextDocument", "writer"),
                          ("com.sun.star.sheet.SpreadsheetDocument", "calc"),
                          ("com.sun.star.presentation.PresentationDocument", "impress"),
                          ("com.sun.star.drawing.DrawingDocument", "draw")):
        if doc.supportsService(service):
            return _FILTERS[name]
    return _FILTERS["writer"]


def convert(desktop, src: str, out: str) -> dict:
    import uno

    props = (
        _prop("Hidden", True),
        _prop("ReadOnly", True),
        _prop("MacroExecutionMode", 0),  # css.document.MacroExecMode.NEVER_EXECUTE
        _prop("UpdateDocMode", 0),  # css.document.UpdateDocMode.NO_UPDATE: links are not refreshed
        _prop("Password", ""),  # an encrypted document fails to load instead of asking
        _prop("RepairPackage", False),
    )
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, props)
    if doc is None:
        return {"error": "LibreOffice could not open it (corrupt, encrypted or not a document it reads)"}
    try:
        doc.storeToURL(uno.systemPathToFileUrl(out), (_prop("FilterName", _filter(doc)),))
    finally:
        try:
            doc.close(True)
        except Exception:  # noqa: BLE001 - a document that refuses to close is dropped with the process
            pass
    return {"ok": True}


def _die_with_parent() -> None:
    """Linux: be killed when the parent goes (a shotdex run ended by Ctrl-C or kill -9 leaves nothing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> None:
    _die_with_parent()
    soffice, profile, pipe = sys.argv[1:4]
    answers = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the real stdout
    args = [soffice, f"-env:UserInstallation={profile}", "--headless", "--invisible", "--nologo", "--norestore",
            "--nodefault", "--nolockcheck", "--nofirststartwizard", f"--accept=pipe,name={pipe};urp;"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    try:
        try:
            desktop = _connect(pipe, proc, time.monotonic() + 60)
        except RuntimeError:
            if proc.returncode != 81:  # 81: a new profile was set up and soffice asks to be started again
                raise
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            desktop = _connect(pipe, proc, time.monotonic() + 60)
        answers.write(json.dumps({"ready": True, "pid": proc.pid}) + "\n")
        answers.flush()
        for line in sys.stdin:
            req = json.loads(line)
            try:
                answer = convert(desktop, req["in"], req["out"])
            except Exception as e:  # noqa: BLE001 - the parent turns this into one line for the source
                name = type(e).__name__
                msg = getattr(e, "Message", "") or str(e)
                answer = {"error": f"{name}: {msg}".strip().splitlines()[0][:300]}
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
    finally:
        try:
            desktop.terminate()  # noqa: F821 - may be unbound when start-up failed
        except Exception:  # noqa: BLE001
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    os.umask(0o077)
    main()
