"""A Web Push service for the tests, on 127.0.0.1: plays what a browser's
push service and the browser do between them.

    python tests/push_service.py --port N

- `POST /subscribe` makes a subscription as a browser would: a fresh P-256
  key pair and auth secret kept here, answered as `PushSubscription.toJSON()`
  (`{"endpoint","keys":{"p256dh","auth"}}`).
- `POST /push/{id}` is the endpoint the server posts to. Each request must
  carry `Authorization: vapid t=JWT, k=KEY` (RFC 8292): the JWT is verified
  (ES256) with the key it names, its `aud` must be this service's origin,
  `exp` in the future and at most 24 h away, `sub` a mailto: or https: URL;
  the body must be `aes128gcm` and decrypt (RFC 8291, http_ece) with the
  subscription's private key and auth secret, and a `TTL` header be given.
  Refused requests answer 400/401/403 and are recorded as refusals.
  Accepted ones answer 201 and are recorded with the decrypted payload.
- `POST /gone/{id}` makes a subscription answer 410 from then on (the
  browser unsubscribed); `POST /slow/{ms}` delays every answer.
- `GET /messages` lists what was accepted (`received_at_ms`, `id`, `ttl`,
  `urgency`, `topic`, `vapid_key`, `payload` as parsed JSON);
  `GET /refused` what was refused and why; `GET /count` how many.
"""

import argparse
import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class State:
    def __init__(self, origin):
        self.origin = origin
        self.lock = threading.Lock()
        self.subs = {}  # id -> (private key, auth)
        self.gone = set()
        self.messages = []
        self.refused = []
        self.delay = 0.0


def check_vapid(header: str, origin: str):
    """The VAPID key (base64url) if the header is a valid VAPID
    authorization for this origin; raises ValueError saying why not."""
    if not header.startswith("vapid "):
        raise ValueError("Authorization is not `vapid t=…, k=…`")
    params = {}
    for part in header[len("vapid "):].split(","):
        name, _, value = part.strip().partition("=")
        params[name] = value
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        raise ValueError("vapid header lacks t= or k=")
    raw_key = unb64url(key)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
    head_b64, claims_b64, sig_b64 = token.split(".")
    head = json.loads(unb64url(head_b64))
    if head.get("alg") != "ES256":
        raise ValueError(f"JWT alg {head.get('alg')!r}, not ES256")
    sig = unb64url(sig_b64)
    if len(sig) != 64:
        raise ValueError("ES256 signature is not 64 bytes")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT does not verify with the key k=")
    claims = json.loads(unb64url(claims_b64))
    # The origin of the push resource; a push service on the default port
    # would not show it, so the audience without the port is taken too.
    scheme_host = origin.rsplit(":", 1)[0]
    if claims.get("aud") not in (origin, scheme_host):
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin}")
    now = time.time()
    exp = claims.get("exp", 0)
    if not (now < exp <= now + 24 * 3600 + 60):
        raise ValueError(f"exp {exp} is not within the next 24 h")
    sub = claims.get("sub", "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise ValueError(f"sub {sub!r} is not a mailto: or https: URL")
    return key


def handler_for(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", content_type="application/json"):
            if state.delay:
                time.sleep(state.delay)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def refuse(self, status, why, sub_id):
            with state.lock:
                state.refused.append({"id": sub_id, "status": status, "why": why,
                                      "received_at_ms": int(time.time() * 1000)})
            self.answer(status, json.dumps({"error": why}).encode())

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self):
            with state.lock:
                if self.path == "/messages":
                    data = json.dumps(state.messages)
                elif self.path == "/refused":
                    data = json.dumps(state.refused)
                elif self.path == "/count":
                    data = json.dumps({"messages": len(state.messages), "refused": len(state.refused)})
                else:
                    data = None
            if data is None:
                self.answer(404)
            else:
                self.answer(200, data.encode())

        def do_POST(self):
            body = self.body()
            parts = self.path.strip("/").split("/")
            if parts == ["subscribe"]:
                private = ec.generate_private_key(ec.SECP256R1())
                auth = os.urandom(16)
                sub_id = b64url(os.urandom(12))
                with state.lock:
                    state.subs[sub_id] = (private, auth)
                point = private.public_key().public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
                reply = {"endpoint": f"{state.origin}/push/{sub_id}",
                         "expirationTime": None,
                         "keys": {"p256dh": b64url(point), "auth": b64url(auth)}}
                return self.answer(201, json.dumps(reply).encode())
            if len(parts) == 2 and parts[0] == "gone":
                with state.lock:
                    state.gone.add(parts[1])
                return self.answer(204)
            if len(parts) == 2 and parts[0] == "slow":
                state.delay = int(parts[1]) / 1000.0
                return self.answer(204)
            if len(parts) != 2 or parts[0] != "push":
                return self.answer(404)
            sub_id = parts[1]
            with state.lock:
                sub = state.subs.get(sub_id)
                gone = sub_id in state.gone
            if sub is None:
                return self.refuse(404, "no such subscription", sub_id)
            if gone:
                return self.refuse(410, "the browser unsubscribed", sub_id)
            try:
                key = check_vapid(self.headers.get("Authorization", ""), state.origin)
            except Exception as e:  # a malformed token is as bad as a wrong one
                return self.refuse(401, f"VAPID: {e}", sub_id)
            if self.headers.get("Content-Encoding") != "aes128gcm":
                return self.refuse(400, "Content-Encoding is not aes128gcm", sub_id)
            if self.headers.get("TTL") is None:
                return self.refuse(400, "no TTL header", sub_id)
            private, auth = sub
            try:
                plain = http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm")
            except Exception as e:
                return self.refuse(400, f"cannot decrypt: {e}", sub_id)
            try:
                payload = json.loads(plain)
            except ValueError:
                payload = plain.decode(errors="replace")
            with state.lock:
                state.messages.append({
                    "id": sub_id,
                    "received_at_ms": int(time.time() * 1000),
                    "ttl": int(self.headers.get("TTL")),
                    "urgency": self.headers.get("Urgency"),
                    "topic": self.headers.get("Topic"),
                    "vapid_key": key,
                    "payload": payload,
                })
            self.answer(201)

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    state = State(f"http://127.0.0.1:{args.port}")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(state))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
