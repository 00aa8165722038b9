"""Where a database lives: a local folder or an object-store prefix (s3://bucket/prefix, gs://, az://).

The tables are LanceDB's; this module holds the rest: the URI and storage options LanceDB and Lance
are given, the small files kept next to the tables (shotdex.json, the pending journal, the writer
lease), and the check that an object store answers at all. pyarrow's own S3 client (pyarrow is a
dependency anyway) reads and writes those files, so no boto3 is needed; nothing here is imported
for a local database.

Object-store settings come from the usual environment variables: AWS_ENDPOINT_URL (or
AWS_ENDPOINT_URL_S3) for an S3-compatible server, AWS_REGION / AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; SHOTDEX_S3_TIMEOUT_S bounds each request (default 10 s).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BadIndex

__all__ = ["Location", "is_uri", "OBJECT_SCHEMES"]

OBJECT_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "memory")


def is_uri(db) -> bool:
    """True for an object-store URI (s3://...); False for a local path (str or Path)."""
    return isinstance(db, str) and "://" in db and db.split("://", 1)[0].lower() in OBJECT_SCHEMES


class Location:
    """A database's place: `str(loc)` names it in messages; `uri` and `storage_options` go to LanceDB."""

    def __init__(self, db):
        self.remote = is_uri(db)
        if self.remote:
            self.uri = str(db).rstrip("/")
            self.scheme = self.uri.split("://", 1)[0].lower()
            self.local: Path | None = None
        else:
            if isinstance(db, str) and "://" in db:
                raise BadIndex(f"{db}: unsupported database URI (the schemes are {', '.join(OBJECT_SCHEMES)}, or a folder)")
            self.local = Path(db).expanduser()
            self.uri = str(self.local)
            self.scheme = "file"
        self._fs = None

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"Location({self.uri!r})"

    # -- object-store settings --------------------------------------------------------------------
    @property
    def storage_options(self) -> dict[str, str]:
        """Options for LanceDB/Lance (lance also reads the AWS_* variables; these make them explicit)."""
        if self.scheme not in ("s3", "s3a"):
            return {}
        env, opts = os.environ, {}
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            opts["aws_endpoint"] = endpoint
            if endpoint.startswith("http://"):
                opts["allow_http"] = "true"
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            opts["aws_region"] = region
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if env.get(var):
                opts[var.lower()] = env[var]
        t = _timeout()
        opts.update(connect_timeout=f"{max(1, int(t // 2))}s", timeout=f"{int(t)}s")
        return opts

    @property
    def fs(self):
        """A pyarrow filesystem for the small files, and the path of the database in it."""
        if self._fs is None:
            from pyarrow import fs

            if self.local is not None:
                self._fs = (fs.LocalFileSystem(), str(self.local))
            elif self.scheme in ("s3", "s3a"):
                env = os.environ
                endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
                kw: dict = {}
                if endpoint:
                    scheme, _, host = endpoint.partition("://")
                    kw.update(endpoint_override=host.rstrip("/") or endpoint, scheme=scheme if host else "https")
                t = _timeout()
                s3 = fs.S3FileSystem(
                    region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                    connect_timeout=t / 2, request_timeout=t,
                    retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=2), **kw)
                self._fs = (s3, self.uri.split("://", 1)[1])
            else:
                filesystem, path = fs.FileSystem.from_uri(self.uri)
                self._fs = (filesystem, path)
        return self._fs

    def _path(self, name: str) -> str:
        return f"{self.fs[1]}/{name}"

    # -- the small files next to the tables -------------------------------------------------------
    def read_text(self, name: str) -> str | None:
        """The file's text, or None when it is not there."""
        if self.local is not None:
            try:
                return (self.local / name).read_text(encoding="utf-8")
            except (FileNotFoundError, NotADirectoryError):
                return None
        filesystem, _ = self.fs
        try:
            with filesystem.open_input_stream(self._path(name)) as f:
                return f.read().decode("utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.unreachable(exc) from None

    def write_text(self, name: str, text: str) -> None:
        """Replace the file atomically and durably (a local temp file + fsync + rename; one PUT remotely)."""
        if self.local is not None:
            path = self.local / name
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            return
        filesystem, _ = self.fs
        try:
            with filesystem.open_output_stream(self._path(name)) as f:
                f.write(text.encode("utf-8"))
        except OSError as exc:
            raise self.unreachable(exc, writing=True) from None

    def delete(self, name: str) -> None:
        if self.local is not None:
            try:
                (self.local / name).unlink()
            except FileNotFoundError:
                pass
            return
        filesystem, _ = self.fs
        try:
            filesystem.delete_file(self._path(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self.unreachable(exc, writing=True) from None

    def exists(self, name: str) -> bool:
        return self.read_text(name) is not None if self.remote else (self.local / name).exists()

    def size(self) -> int:
        """Bytes of everything under the database."""
        if self.local is not None:
            return sum(p.stat().st_size for p in self.local.rglob("*") if p.is_file())
        from pyarrow import fs

        filesystem, base = self.fs
        try:
            infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise self.unreachable(exc) from None
        return sum(i.size or 0 for i in infos if i.type == fs.FileType.File)

    def unreachable(self, exc: BaseException, writing: bool = False) -> BadIndex:
        """One line for an object store that refuses us or does not answer."""
        text = " ".join(str(exc).split())
        low = text.lower()
        if any(w in low for w in ("accessdenied", "access_denied", "access denied", "invalidaccesskeyid", "signaturedoesnotmatch",
                                  "forbidden", "403", "credentials")):
            why = ("the store refused the credentials (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                   "or AWS_PROFILE)")
        elif any(w in low for w in ("nosuchbucket", "bucket does not exist", "no such bucket")):
            why = "the bucket does not exist (create it first)"
        elif any(w in low for w in ("curl", "connect", "timed out", "timeout", "resolve", "unreachable", "network")):
            ep = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "the default AWS endpoint"
            why = f"the object store at {ep} does not answer (check AWS_ENDPOINT_URL and the network)"
        else:
            why = text[:200]
        return BadIndex(f"cannot {'write' if writing else 'read'} the index at {self.uri}: {why}")


def _timeout() -> float:
    try:
        return max(1.0, float(os.environ.get("SHOTDEX_S3_TIMEOUT_S", "10")))
    except ValueError:
        return 10.0
