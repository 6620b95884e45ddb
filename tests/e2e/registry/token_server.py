#!/usr/bin/env python3
"""A tiny token server for the distribution registry's bearer flow (the tests' stand-in for
auth.docker.io): GET /token?service=S&scope=repository:NAME:ACTIONS answers a JWT signed with
the test's key (RS256 through `openssl dgst`), which the registry checks against the
certificate in its rootcertbundle (by the key id libtrust derives from the public key).
Anonymous callers get pull; a caller with the right Basic credentials gets what it asks.
Wrong credentials are a 401. Every request is logged to LOG as one JSON line.

usage: token_server.py KEY CERT ISSUER SERVICE USER:PASSWORD PORTFILE LOG
"""
import base64, hashlib, http.server, json, os, subprocess, sys, time, urllib.parse

key, cert, issuer, service, userpass, port_file, log_path = sys.argv[1:8]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id():
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True).stdout
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


KID = key_id()


def token(subject, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "kid": KID}
    claims = {"iss": issuer, "sub": subject, "aud": service, "exp": now + 600, "nbf": now - 60, "iat": now,
              "jti": b64url(os.urandom(12)), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input, check=True,
                         capture_output=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode(errors="replace")
            if given != userpass:
                self.log({"path": url.path, "user": given.split(":")[0], "result": 401})
                self.send_response(401)
                self.end_headers()
                return
            user = given.split(":")[0]
        access = []
        for scope in query.get("scope", []):
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository":
                wanted = parts[2].split(",")
                actions = wanted if user else [a for a in wanted if a == "pull"]
                access.append({"type": "repository", "name": parts[1], "actions": actions})
        body = json.dumps({"token": token(user or "anonymous", access), "expires_in": 600}).encode()
        self.log({"path": url.path, "user": user, "scope": query.get("scope", []), "result": 200})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log(self, entry):
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
