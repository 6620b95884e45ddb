#!/usr/bin/env python3
"""A plain-HTTP proxy in front of a registry that misbehaves once, as MODE says:
  cut      the first blob response over CUT bytes stops after CUT bytes (the connection
           closes mid-body, as a dropped link does); everything after is served whole
  corrupt  every blob over CUT bytes has one byte changed (its digest no longer matches)
  notjson  every manifest is an HTML page
  429, 500 every manifest request answers that status (with a registry's JSON error body)
  slow     the first blob response over CUT bytes stalls after CUT bytes (for a kill -9)
Each blob request's path, Range header and status are logged to LOG as JSON lines.

usage: cut_proxy.py UPSTREAM_PORT CUT PORTFILE LOG [MODE]
"""
import http.client, http.server, json, os, sys, threading, time

upstream_port, cut, port_file, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
mode = sys.argv[5] if len(sys.argv) > 5 else "cut"
state = {"cut_done": False}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self, method):
        if mode.isdigit() and "/manifests/" in self.path:
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS" if mode == "429" else "UNKNOWN",
                                           "message": "the proxy says " + mode}]}).encode()
            self.send_response(int(mode))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection("127.0.0.1", upstream_port)
        conn.request(method, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        is_blob = "/blobs/sha256:" in self.path and method == "GET"
        headers_out = resp.getheaders()
        if mode == "corrupt" and is_blob and len(data) > cut:
            data = data[:cut] + bytes([data[cut] ^ 0xff]) + data[cut + 1:]
        if mode == "notjson" and "/manifests/" in self.path:
            data = b"<html><body>maintenance</body></html>"
            headers_out = [(k, v) for k, v in headers_out if k.lower() not in ("content-type", "docker-content-digest")]
            headers_out.append(("Content-Type", "text/html"))
        if is_blob:
            with open(log_path, "a") as f:
                f.write(json.dumps({"path": self.path, "range": self.headers.get("Range", ""),
                                    "status": resp.status}) + "\n")
        self.send_response(resp.status)
        for k, v in headers_out:
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with lock:
            cut_now = mode in ("cut", "slow") and is_blob and resp.status == 200 and len(data) > cut and not state["cut_done"]
            if cut_now:
                state["cut_done"] = True
        if cut_now:
            self.wfile.write(data[:cut])
            self.wfile.flush()
            if mode == "slow":
                time.sleep(60)
            self.close_connection = True
            return
        if method != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self.relay("GET")

    def do_HEAD(self):
        self.relay("HEAD")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
