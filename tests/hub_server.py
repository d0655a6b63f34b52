"""A stand-in for the Hugging Face Hub on 127.0.0.1: the few endpoints `huggingface_hub` uses to create a dataset
repo, commit a folder (files sent inline as "regular" uploads), tag it and list its refs."""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandInHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # repo -> {"files": {path: bytes}, "commits": [...], "tags": {name: sha}}
        self.authorizations: list[str] = []
        self.unhandled: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _reply(self, status: int, payload: object) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_GET(self) -> None:
                hub.authorizations.append(self.headers.get("Authorization", ""))
                match = re.fullmatch(r"/api/datasets/(.+)/refs", self.path.split("?")[0])
                if match and match.group(1) in hub.repos:
                    repo = hub.repos[match.group(1)]
                    head = repo["commits"][-1] if repo["commits"] else "0" * 40
                    tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in repo["tags"].items()]
                    branches = [{"name": "main", "ref": "refs/heads/main", "targetCommit": head}]
                    self._reply(200, {"branches": branches, "tags": tags, "converts": []})
                    return
                hub.unhandled.append(f"GET {self.path}")
                self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                hub.authorizations.append(self.headers.get("Authorization", ""))
                body, path = self._body(), self.path.split("?")[0]
                endpoint = f"http://{self.headers['Host']}"
                if path == "/api/repos/create":
                    name = json.loads(body)
                    repo_id = f"{name['organization']}/{name['name']}" if name.get("organization") else name["name"]
                    hub.repos.setdefault(repo_id, {"files": {}, "commits": [], "tags": {}})
                    self._reply(200, {"url": f"{endpoint}/datasets/{repo_id}", "name": repo_id})
                elif path == "/api/validate-yaml":
                    self._reply(200, {"errors": [], "warnings": []})
                elif match := re.fullmatch(r"/api/datasets/(.+)/preupload/(.+)", path):
                    files = json.loads(body)["files"]
                    self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                            ]
                        },
                    )
                elif match := re.fullmatch(r"/api/datasets/(.+)/commit/(.+)", path):
                    repo = hub.repos[match.group(1)]
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        elif item["key"] == "deletedFile":
                            repo["files"].pop(item["value"]["path"], None)
                    sha = hashlib.sha1(body).hexdigest()
                    repo["commits"].append(sha)
                    self._reply(
                        200,
                        {
                            "success": True,
                            "commitOid": sha,
                            "commitUrl": f"{endpoint}/datasets/{match.group(1)}/commit/{sha}",
                            "pullRequestUrl": None,
                        },
                    )
                elif match := re.fullmatch(r"/api/datasets/(.+)/tag/(.+)", path):
                    repo = hub.repos[match.group(1)]
                    repo["tags"][json.loads(body)["tag"]] = repo["commits"][-1]
                    self._reply(200, {})
                else:
                    hub.unhandled.append(f"POST {self.path}")
                    self._reply(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StandInHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
