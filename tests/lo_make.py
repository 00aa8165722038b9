"""Make test documents with LibreOffice itself, over UNO. Run by Debian's python3 (it has `uno`):

    python3 -I lo_make.py PROFILE_DIR macro OUT.odt MARKER_FILE   an .odt whose OnLoad macro writes MARKER_FILE
    python3 -I lo_make.py PROFILE_DIR password OUT.docx           a password-protected .odt ("secret")
    python3 -I lo_make.py PROFILE_DIR convert IN OUT FILTER       IN converted by LibreOffice (e.g. "calc8")
"""

import subprocess
import sys
import time
import uuid

import uno
from com.sun.star.beans import PropertyValue


def P(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def desktop(profile):
    pipe = "lomake" + uuid.uuid4().hex
    args = ["/usr/lib/libreoffice/program/soffice.bin", f"-env:UserInstallation=file://{profile}", "--headless",
            "--norestore", "--nologo", f"--accept=pipe,name={pipe};urp;"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    for _ in range(600):
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return proc, ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except Exception:  # noqa: BLE001
            if proc.poll() is not None:  # 81: first start set up the profile; start again
                proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.1)
    raise SystemExit("soffice did not start")


def main():
    profile, what, *rest = sys.argv[1:]
    proc, desk = desktop(profile)
    try:
        if what == "convert":
            src, out, filt = rest
            doc = desk.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, (P("Hidden", True),))
            doc.storeToURL(uno.systemPathToFileUrl(out), (P("FilterName", filt),))
            doc.close(True)
            return
        doc = desk.loadComponentFromURL("private:factory/swriter", "_blank", 0, (P("Hidden", True),))
        if what == "macro":
            out, marker = rest
            doc.Text.insertString(doc.Text.End, "macro document words", False)
            libs = doc.BasicLibraries
            lib = libs.getByName("Standard") if libs.hasByName("Standard") else libs.createLibrary("Standard")
            lib.insertByName("Module1", f'Sub Main\n  Dim n As Integer\n  n = FreeFile\n  Open "{marker}" For Output As #n\n'
                                        '  Print #n, "ran"\n  Close #n\nEnd Sub\n')
            event = uno.Any("[]com.sun.star.beans.PropertyValue", (
                P("EventType", "Script"),
                P("Script", "vnd.sun.star.script:Standard.Module1.Main?language=Basic&location=document")))
            uno.invoke(doc.Events, "replaceByName", ("OnLoad", event))
            doc.storeToURL(uno.systemPathToFileUrl(out), (P("FilterName", "writer8"),))
        elif what == "password":
            (out,) = rest
            doc.Text.insertString(doc.Text.End, "locked document words", False)
            doc.storeToURL(uno.systemPathToFileUrl(out), (P("FilterName", "writer8"), P("Password", "secret")))
        doc.close(True)
    finally:
        try:
            desk.terminate()
        except Exception:  # noqa: BLE001
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
