"""A Hugging Face Hub on 127.0.0.1 for tests: a stdlib HTTP server speaking the endpoints that the unmodified
``huggingface_hub`` client (and ``datasets`` through it) uses, plus the ``hub_server`` pytest fixture.

What it serves, for model and dataset repos (``ORG/NAME``) with branches, tags and commits kept in memory:
whoami, create/delete repo, validate-yaml, repo info (with siblings), tree (404 + ``X-Error-Code: EntryNotFound``
for a missing folder), paths-info, commits, refs, create branch/tag, preupload (``lfs`` for *.safetensors,
*.parquet and other binaries), the LFS batch endpoint with a PUT upload link (sha256 and size checked), the NDJSON
commit endpoint, and HEAD/GET ``resolve`` with ``X-Repo-Commit``, ``ETag`` (git sha1, or sha256 for LFS),
``Content-Length`` and byte ranges. Every request body is read, so keep-alive connections stay in sync. Writes and
private repos need a bearer token (any value). Faults for failure tests: ``server.offline()`` makes every request
fail at the socket level (a network outage), ``server.truncate[path] = n`` hangs up after ``n`` bytes of a file,
``server.corrupt[path] = data`` serves other bytes under the true ETag, ``server.reject_yaml = message`` refuses
every card's metadata as the Hub's schema checks do, ``server.refuse_uploads = "*.parquet"`` refuses (HTTP 403) every
commit that adds a file matching the pattern, as the Hub refuses a push, and ``server.drop_uploads = "*.parquet"``
hangs up on such a commit without an answer (a connection lost mid-push). ``server.requests`` logs
``(method, path)``; ``server.file(repo_id, path)`` reads a stored file.

Use it with ``pytest_plugins = ["tests.hubserver"]`` (tests/conftest.py does this): a test that names the
``hub_server`` fixture gets a running server, ``HF_ENDPOINT`` pointing at it, a dummy ``HF_TOKEN``,
``HF_HUB_DISABLE_XET=1``, online mode, and empty ``HF_HOME`` / Hub / datasets caches in ``tmp_path``.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import yaml

LFS_PATTERNS = ("*.safetensors", "*.parquet", "*.bin", "*.pt", "*.arrow", "*.npz", "*.gz", "*.zip")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()
USER = "tester"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Blob:
    """One file version: inline bytes (regular) or an LFS object referenced by sha256."""

    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                f"size {len(self.data)}\n").encode()

    def entry(self, path: str, commit: "Commit | None" = None) -> dict:
        out = {"type": "file", "path": path, "size": len(self.data),
               "oid": git_sha1(self.pointer() if self.lfs else self.data)}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(self.pointer())}
        if commit is not None:
            out["lastCommit"] = commit.short()
        return out


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, Blob]

    def short(self) -> dict:
        return {"id": self.oid, "title": self.title, "date": self.date}


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and revision in self.commits:
            oid = revision
        return self.commits.get(oid) if oid else None

    def commit(self, branch: str, files: dict[str, Blob], title: str, message: str = "") -> Commit:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        c = Commit(uuid.uuid4().hex + uuid.uuid4().hex[:8], self.branches.get(branch), title, message, now, files)
        self.commits[c.oid] = c
        self.branches[branch] = c.oid
        return c


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class HubServer(ThreadingHTTPServer):
    """The server and its in-memory state (``repos``, pending LFS objects, request log)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.down = False
        #: Faults to play on GET resolve, keyed by path in repo: serve only the first N bytes then hang up
        #: (``truncate``), or serve other bytes of the same length under the true ETag (``corrupt``).
        self.truncate: dict[str, int] = {}
        self.corrupt: dict[str, bytes] = {}
        #: A message the validate-yaml endpoint refuses every card with (the Hub's schema checks), when set.
        self.reject_yaml: str | None = None
        #: A glob of paths in repo: a commit adding a matching file is refused with HTTP 403, when set.
        self.refuse_uploads: str | None = None
        #: The same glob for commits to hang up on, unanswered and not applied, when set.
        self.drop_uploads: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self.serve_forever, name="hubserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.down = True  # handler threads on kept-alive connections hang up too
        self.shutdown()
        self.server_close()

    def offline(self, down: bool = True) -> None:
        """Play a network outage: connections are accepted and closed without an answer."""
        self.down = down

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def file(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> bytes:
        return self.repo(repo_id, repo_type).resolve(revision).files[path].data  # type: ignore[union-attr]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    server: HubServer

    def log_message(self, *args) -> None:  # quiet
        pass

    # ------------------------------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json", length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _validate_yaml(self, content: str) -> None:
        """As the Hub answers: a README without a front matter block is accepted with a warning; a block that is not
        a YAML mapping is a 400 with the problems in ``errors``; ``server.reject_yaml`` plays the Hub's schema
        checks (e.g. an unknown license) by refusing every card with that message."""
        block = re.match(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))", content)
        problem = self.server.reject_yaml
        if block is None:
            return self._json({"errors": [], "warnings": [{"message": "Empty metadata"}]})
        try:
            meta = yaml.safe_load(block.group(2))
        except yaml.YAMLError as e:
            problem = f"Invalid YAML metadata: {e}"
        else:
            if meta is not None and not isinstance(meta, dict):
                problem = "Metadata must be an object"
        if problem:
            return self._json({"errors": [{"message": problem}], "warnings": []}, 400, {"X-Error-Message": problem})
        return self._json({"errors": [], "warnings": []})

    def _error(self, e: HubError) -> None:
        headers = {"X-Error-Message": e.message}
        if e.code:
            headers["X-Error-Code"] = e.code
        self._json({"error": e.message, **e.extra}, e.status, headers)

    def _authed(self) -> bool:
        return self.headers.get("Authorization", "").startswith("Bearer ")

    def _dispatch(self) -> None:
        body = self._body()  # always drain the body first
        split = urlsplit(self.path)
        with self.server.lock:
            self.server.requests.append((self.command, split.path))
        if self.server.down:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        segments = [unquote(s) for s in split.path.strip("/").split("/")]
        query = parse_qs(split.query)
        try:
            with self.server.lock:
                self._route(segments, query, body)
        except HubError as e:
            self._error(e)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # ------------------------------------------------------------------------------------------ routing
    def _repo(self, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        repo = self.server.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._authed()):
            raise HubError(404 if repo is None else 401, "RepoNotFound", f"Repository {repo_id!r} not found")
        if write and not self._authed():
            raise HubError(401, None, "Invalid credentials in Authorization header")
        return repo

    @staticmethod
    def _commit_of(repo: Repo, revision: str) -> Commit:
        c = repo.resolve(revision)
        if c is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return c

    def _route(self, seg: list[str], query: dict, body: bytes) -> None:
        m = self.command
        if seg[:2] == ["api", "whoami-v2"]:
            if not self._authed():
                raise HubError(401, None, "Invalid credentials in Authorization header")
            return self._json({"type": "user", "name": USER, "fullname": "Test User", "orgs": [],
                               "auth": {"accessToken": {"displayName": "test", "role": "write"}}})
        if seg[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml(json.loads(body)["content"])
        if seg[:3] == ["api", "repos", "create"] and m == "POST":
            return self._create_repo(json.loads(body))
        if seg[:3] == ["api", "repos", "delete"] and m in ("DELETE", "POST"):  # the client sends DELETE
            d = json.loads(body)
            rid = f"{d['organization']}/{d['name']}" if d.get("organization") else d["name"]
            self._repo(d.get("type") or "model", rid, write=True)
            del self.server.repos[(d.get("type") or "model", rid)]
            return self._json({})
        if seg[0] == "api" and len(seg) >= 4 and seg[1] in ("models", "datasets", "spaces"):
            return self._api(seg[1][:-1], f"{seg[2]}/{seg[3]}", seg[4:], query, body)
        if seg[0] == "__lfs" and m == "PUT":
            return self._lfs_put(seg[1], body)
        repo_type = "model"
        if seg[0] in ("datasets", "spaces"):
            repo_type, seg = seg[0][:-1], seg[1:]
        if len(seg) >= 3 and seg[1].endswith(".git") and seg[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(repo_type, f"{seg[0]}/{seg[1][:-4]}", json.loads(body))
        if len(seg) >= 5 and seg[2] == "resolve" and m in ("GET", "HEAD"):
            return self._resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        raise HubError(404, None, f"no route for {m} {self.path}")

    def _create_repo(self, d: dict) -> None:
        if not self._authed():
            raise HubError(401, None, "Invalid credentials in Authorization header")
        repo_type = d.get("type") or "model"
        rid = f"{d.get('organization') or USER}/{d['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        if (repo_type, rid) in self.server.repos:  # the Hub answers 409 with the repo's URL
            raise HubError(409, None, f"You already created this {repo_type} repo",
                           url=f"{self.server.url}/{prefix}{rid}")
        repo = Repo(repo_type, rid, private=d.get("visibility") == "private" or bool(d.get("private")))
        repo.commit("main", {".gitattributes": Blob(GITATTRIBUTES, lfs=False)}, "initial commit")
        self.server.repos[(repo_type, rid)] = repo
        self._json({"url": f"{self.server.url}/{prefix}{rid}", "name": rid, "id": uuid.uuid4().hex})

    # --------------------------------------------------------------------------------------- /api/<type>s
    def _api(self, repo_type: str, rid: str, rest: list[str], query: dict, body: bytes) -> None:
        m = self.command
        write = m == "POST" and rest[:1] in (["preupload"], ["commit"], ["branch"], ["tag"])
        repo = self._repo(repo_type, rid, write=write)
        if not rest or rest[0] == "revision":
            c = self._commit_of(repo, rest[1] if rest else "main")
            return self._json(self._info(repo, c, blobs="blobs" in query))
        what, rev = rest[0], (rest[1] if len(rest) > 1 else "main")
        if what == "tree":
            c = self._commit_of(repo, rev)
            return self._tree(c, "/".join(rest[2:]).strip("/"), query)
        if what == "paths-info" and m == "POST":
            c = self._commit_of(repo, rev)
            form = parse_qs(body.decode()) if body and not body.startswith(b"{") else json.loads(body or b"{}")
            paths = form.get("paths", [])
            paths = [paths] if isinstance(paths, str) else paths
            expand = str(form.get("expand", ["false"])[0] if isinstance(form.get("expand"), list)
                         else form.get("expand", "false")).lower() == "true"
            out = []
            for p in paths:
                p = p.strip("/")
                if p in c.files:
                    out.append(c.files[p].entry(p, c if expand else None))
                elif any(f.startswith(p + "/") for f in c.files):
                    out.append({"type": "directory", "path": p, "oid": git_sha1(p.encode())})
            return self._json(out)
        if what == "commits":
            c, out = self._commit_of(repo, rev), []
            while c is not None:
                out.append({"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                            "authors": [{"user": USER}]})
                c = repo.commits.get(c.parent) if c.parent else None
            return self._json(out)
        if what == "refs":
            ref = lambda kind, n, o: {"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": o}  # noqa: E731
            return self._json({"branches": [ref("heads", n, o) for n, o in repo.branches.items()],
                               "tags": [ref("tags", n, o) for n, o in repo.tags.items()], "converts": []})
        if what == "branch" and m == "POST":
            if rev in repo.branches:
                raise HubError(409, None, f"Reference {rev} already exists")
            start = json.loads(body or b"{}").get("startingPoint") or "main"
            repo.branches[rev] = self._commit_of(repo, start).oid
            return self._json({})
        if what == "tag" and m == "POST":
            d = json.loads(body or b"{}")
            if d["tag"] in repo.tags:
                raise HubError(409, None, f"Tag {d['tag']} already exists")
            repo.tags[d["tag"]] = self._commit_of(repo, rev).oid
            return self._json({})
        if what == "preupload" and m == "POST":
            c = repo.resolve(rev)
            files = []
            for f in json.loads(body)["files"]:
                lfs = any(fnmatch.fnmatch(f["path"].rsplit("/", 1)[-1], p) for p in LFS_PATTERNS)
                old = c.files.get(f["path"]) if c else None
                files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                              "oid": (old.entry(f["path"])["oid"] if old else None)})
            return self._json({"files": files, "commitOid": c.oid if c else None})
        if what == "commit" and m == "POST":
            return self._commit(repo, rev, body)
        raise HubError(404, None, f"no route for {m} {self.path}")

    def _info(self, repo: Repo, c: Commit, blobs: bool) -> dict:
        siblings = []
        for p, b in sorted(c.files.items()):
            s = {"rfilename": p}
            if blobs:
                e = b.entry(p)
                s.update(size=e["size"], blobId=e["oid"])
                if b.lfs:
                    s["lfs"] = {"sha256": b.sha256, "size": len(b.data), "pointerSize": len(b.pointer())}
            siblings.append(s)
        card = {}
        readme = c.files.get("README.md")
        if readme is not None and readme.data.startswith(b"---"):
            card = yaml.safe_load(readme.data.decode().split("---")[1]) or {}
        return {"id": repo.repo_id, "_id": git_sha1(repo.repo_id.encode()), "author": repo.repo_id.split("/")[0],
                "sha": c.oid, "lastModified": c.date, "createdAt": c.date, "private": repo.private,
                "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": card.get("tags", []),
                "cardData": card, "siblings": siblings, "library_name": card.get("library_name")}

    def _tree(self, c: Commit, path: str, query: dict) -> None:
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        expand = query.get("expand", ["false"])[0].lower() == "true"
        prefix = f"{path}/" if path else ""
        if path and path in c.files:
            raise HubError(404, "EntryNotFound", f"{path} is a file, not a folder")
        under = sorted(p for p in c.files if p.startswith(prefix))
        if path and not under:
            raise HubError(404, "EntryNotFound", f"Error: path {path} not found")
        out, folders = [], set()
        for p in under:
            rest = p[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                if depth > 1 and not recursive:
                    break
                folders.add(prefix + "/".join(rest[:depth]))
            if len(rest) == 1 or recursive:
                out.append(c.files[p].entry(p, c if expand else None))
        out += [{"type": "directory", "path": f, "oid": git_sha1(f.encode())} for f in sorted(folders)]
        self._json(out)

    def _commit(self, repo: Repo, rev: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else {}
        if rev not in repo.branches:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        parent = repo.commits[repo.branches[rev]]
        if header.get("parentCommit") and header["parentCommit"] != parent.oid:
            raise HubError(412, None, "A commit has happened since the parent commit; pull and retry")
        added = [op["value"]["path"] for op in lines[1:] if op["key"] in ("file", "lfsFile")]
        refused, dropped = self.server.refuse_uploads, self.server.drop_uploads
        if refused and any(fnmatch.fnmatch(p, refused) for p in added):
            raise HubError(403, None, f"Your push was rejected: files matching {refused} are not accepted")
        if dropped and any(fnmatch.fnmatch(p, dropped) for p in added):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        files = dict(parent.files)
        for op in lines[1:]:
            v = op["value"]
            if op["key"] == "file":
                files[v["path"]] = Blob(base64.b64decode(v["content"]), lfs=False)
            elif op["key"] == "lfsFile":
                data = self.server.lfs_objects.get(v["oid"])
                if data is None:
                    src = next((b for b in files.values() if b.lfs and b.sha256 == v["oid"]), None)
                    if src is None:
                        raise HubError(400, None, f"LFS object {v['oid']} was never uploaded")
                    data = src.data
                files[v["path"]] = Blob(data, lfs=True)
            elif op["key"] == "deletedFile":
                files.pop(v["path"], None)
            elif op["key"] == "deletedFolder":
                files = {p: b for p, b in files.items() if not p.startswith(v["path"].rstrip("/") + "/")}
        c = repo.commit(rev, files, header.get("summary", "commit"), header.get("description", ""))
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._json({"commitUrl": f"{self.server.url}/{prefix}{repo.repo_id}/commit/{c.oid}", "commitOid": c.oid,
                    "pullRequestUrl": None, "success": True})

    # ------------------------------------------------------------------------------------------------ LFS
    def _lfs_batch(self, repo_type: str, rid: str, d: dict) -> None:
        self._repo(repo_type, rid, write=d.get("operation") == "upload")
        objects = []
        for o in d["objects"]:
            obj = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in self.server.lfs_objects:
                obj["actions"] = {"upload": {"href": f"{self.server.url}/__lfs/{o['oid']}?size={o['size']}"}}
            objects.append(obj)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, None, "uploaded content does not match its sha256")
        self.server.lfs_objects[oid] = body
        self._send(200, b"")

    # -------------------------------------------------------------------------------------------- resolve
    def _resolve(self, repo_type: str, rid: str, revision: str, path: str) -> None:
        repo = self._repo(repo_type, rid)
        c = self._commit_of(repo, revision)
        blob = c.files.get(path)
        if blob is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist at revision {revision}")
        etag = blob.sha256 if blob.lfs else git_sha1(blob.data)
        headers = {"X-Repo-Commit": c.oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": len(blob.data)})
        data, status = blob.data, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].split(",")[0].partition("-")
            if start_s:
                start, end = int(start_s), int(end_s) if end_s else len(data) - 1
            else:
                start, end = max(0, len(data) - int(end_s)), len(data) - 1
            if start >= len(data) and len(data) > 0:
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}", **headers})
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        if self.command == "GET" and path in self.server.corrupt:
            data = self.server.corrupt[path][:len(data)]
        if self.command == "GET" and path in self.server.truncate:
            self.send_response(status)
            for k, v in {**headers, "Content-Length": len(data)}.items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(data[:self.server.truncate[path]])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, data, headers, content_type="application/octet-stream")


# ------------------------------------------------------------------------------------------------ fixture
def _patch_clients(monkeypatch: pytest.MonkeyPatch, url: str, home) -> None:
    """Point huggingface_hub (and datasets, when installed) at ``url`` with fresh caches under ``home``.

    Both libraries read their settings into module constants at import time, so the environment alone is not
    enough; monkeypatch restores everything after the test.
    """
    hub_cache, ds_cache = home / "hub", home / "datasets"
    env = {"HF_ENDPOINT": url, "HF_TOKEN": "hf_dummy_test_token", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(home),
           "HF_HUB_CACHE": str(hub_cache), "HF_DATASETS_CACHE": str(ds_cache), "HF_HUB_OFFLINE": "0",
           "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    from huggingface_hub import constants, hf_api

    template = url + "/{repo_id}/resolve/{revision}/{filename}"
    for name, value in {"ENDPOINT": url, "HUGGINGFACE_CO_URL_TEMPLATE": template,
                        "HF_HOME": str(home), "HF_HUB_CACHE": str(hub_cache), "HUGGINGFACE_HUB_CACHE": str(hub_cache),
                        "HF_ASSETS_CACHE": str(home / "assets"), "HF_XET_CACHE": str(home / "xet"),
                        "HF_TOKEN_PATH": str(home / "token"), "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
                        "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_XET": True}.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", url)  # the module-level HfApi behind huggingface_hub.upload_file etc.
    try:
        from huggingface_hub import HfFileSystem

        HfFileSystem.clear_instance_cache()  # fsspec caches instances with their endpoint
    except Exception:  # noqa: BLE001 - older clients without the cache
        pass
    try:
        import datasets.config as dcfg
    except ImportError:
        return
    for name, value in {"HF_ENDPOINT": url, "HF_HUB_OFFLINE": False, "HF_DATASETS_OFFLINE": False,
                        "HF_CACHE_HOME": str(home), "HF_DATASETS_CACHE": ds_cache,
                        "HF_MODULES_CACHE": home / "modules",
                        "DOWNLOADED_DATASETS_PATH": ds_cache / "downloads",
                        "EXTRACTED_DATASETS_PATH": ds_cache / "downloads" / "extracted"}.items():
        if hasattr(dcfg, name):
            monkeypatch.setattr(dcfg, name, value)


@pytest.fixture
def hub_server(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[HubServer]:
    """A fresh loopback Hub for one test, with the Hugging Face clients pointed at it and empty caches."""
    server = HubServer().start()
    home = tmp_path / "hf_home"
    home.mkdir()
    _patch_clients(monkeypatch, server.url, home)
    try:
        yield server
    finally:
        server.stop()
        try:
            from huggingface_hub import HfFileSystem

            HfFileSystem.clear_instance_cache()
        except Exception:  # noqa: BLE001
            pass


def hub_url(server: HubServer, repo_id: str, path: str, revision: str = "main") -> str:
    """The ``resolve`` URL of a file, for tests that fetch it by hand."""
    return f"{server.url}/{repo_id}/resolve/{quote(revision, safe='')}/{path}"
