#!/usr/bin/env python3
"""Writes the seed inputs of Fuzz/Corpus (run once; scripts/fuzz then grows
the corpus). Frames come from Protocol/examples, tokens are signed with the
fuzz targets' key (SwitchboardFuzzing/FuzzHub.swift), requests cover every
route of Protocol/openapi.yaml with the values the tests and attacks used."""
import base64, hashlib, hmac, json, os, pathlib

root = pathlib.Path(__file__).resolve().parent
secret = b"fuzz-secret-fuzz-secret-fuzz-sec"
I64MAX, I64MIN = "9223372036854775807", "-9223372036854775808"


def write(target, name, data):
    d = root / "Corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + name)).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(payload, header=b'{"alg":"HS256","typ":"JWT"}'):
    inp = b64(header) + "." + b64(payload)
    return inp + "." + b64(hmac.new(secret, inp.encode(), hashlib.sha256).digest())


# frames: the protocol's client examples, then hostile variants.
for p in sorted((root.parent / "Protocol" / "examples").glob("client.*.json")):
    write("frames", p.stem, p.read_bytes().strip())
for i, text in enumerate([
    '{"type":"subscribe","id":"1","channel":"conversation:1","since":%s}' % I64MAX,
    '{"type":"subscribe","id":"1","channel":"conversation:1","since":%s}' % I64MIN,
    '{"type":"read","id":"1","conversation":"1","seq":%s}' % I64MAX,
    '{"type":"auth","id":"1","token":"x","since":-1}',
    '{"type":"send","id":"1","conversation":"1","client_msg_id":"a\\u0000b","kind":"text","body":{"text":"x"}}',
    '{"type":"send","id":"1","conversation":"%s","client_msg_id":"q","kind":"quote","body":{"amount":%s,"currency":"EUR","valid_until":%s}}' % (I64MAX, I64MAX, I64MIN),
    '{"type":"typing","id":"1","conversation":"1","active":true}',
    '{"type":"presence","id":"1","users":["bob","system","backend:dev"]}',
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    '{"a":1e400,"b":-0.0,"c":123456789012345678901234567890,"d":"\\ud800","e":"\\u0000"}',
]):
    write("frames", "hostile-%02d" % i, text)

# jwt: even first byte = a whole token, odd first byte = claims to sign.
now = 1_800_000_000
claims = [
    {"sub": "alice", "exp": now + 600},
    {"sub": "alice", "role": "admin", "exp": now + 600, "nbf": now - 5, "iat": now - 5, "iss": "i", "aud": ["a", "b"]},
    {"sub": "alice", "exp": 9_300_000_000_000_000},
    {"sub": "alice", "exp": int(I64MAX)},
    {"sub": "alice", "exp": int(I64MIN)},
    {"sub": "alice", "nbf": int(I64MIN), "iat": int(I64MAX)},
    {"sub": "victim\u0000evil", "exp": now + 600},
    {"sub": "system"},
    {"sub": "backend:dev", "exp": now + 60.5},
    {"sub": "", "exp": "soon"},
]
for i, c in enumerate(claims):
    payload = json.dumps(c, separators=(",", ":")).encode()
    write("jwt", "claims-%02d" % i, b"1" + payload)
    write("jwt", "token-%02d" % i, b"0" + sign(payload).encode())
write("jwt", "token-none", b"0" + (b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"alice"}') + ".").encode())
write("jwt", "token-rs256", b"0" + sign(b'{"sub":"alice"}', b'{"alg":"RS256"}').encode())
for alg, n in [("RS256", 256), ("ES256", 64), ("ES256", 72)]:  # junk signatures, right and wrong lengths
    tok = b64(('{"alg":"%s","typ":"JWT"}' % alg).encode()) + "." + b64(b'{"sub":"alice","exp":1800000600}')
    write("jwt", "token-%s-%d" % (alg.lower(), n), b"0" + (tok + "." + b64(bytes(range(256))[:n])).encode())
write("jwt", "token-example", b"0" + json.load(open(root.parent / "Protocol/examples/client.auth.json"))["token"].encode())

# http: every route, as a user and as the backend, with boundary values.
def req(method, target, body="", auth="Authorization: Bearer $alice", extra=""):
    head = "%s %s\n%s\n" % (method, target, auth) + extra
    if body:
        head += "Content-Type: application/json\n"
    return head + "\n" + body

requests = {
    "healthz": req("GET", "/healthz", auth=""),
    "readyz": req("HEAD", "/readyz", auth=""),
    "metrics": req("GET", "/metrics", auth=""),
    "publish": req("POST", "/v1/publish", '{"channel":"user:alice","data":{"k":"v"}}', "X-API-Key: $key"),
    "publish-bearer-key": req("POST", "/v1/publish", '{"channel":"conversation:1","data":[1,2]}', "Authorization: Bearer $key"),
    "me": req("GET", "/v1/me"),
    "me-signed": req("GET", "/v1/me", auth='X-Sign: {"sub":"alice","exp":9300000000000000}'),
    "conversations": req("GET", "/v1/conversations?limit=2&cursor=1_1"),
    "conversations-create": req("POST", "/v1/conversations", '{"participants":["bob"],"project_id":"p1"}'),
    "history": req("GET", "/v1/conversations/1/messages?before=%s&limit=50" % I64MAX),
    "history-after": req("GET", "/v1/conversations/1/messages?after=%s" % I64MIN),
    "send": req("POST", "/v1/conversations/1/messages", '{"client_msg_id":"c1","kind":"text","body":{"text":"hi"}}'),
    "send-quote": req("POST", "/v1/conversations/1/messages", '{"client_msg_id":"c2","kind":"quote","body":{"amount":%s,"currency":"EUR"}}' % I64MAX),
    "read": req("POST", "/v1/conversations/1/read", '{"seq":%s}' % I64MAX),
    "edit": req("PATCH", "/v1/messages/101", '{"body":{"text":"edited"}}'),
    "delete": req("DELETE", "/v1/messages/101"),
    "presence": req("GET", "/v1/presence?users=bob,carol,alice"),
    "scans": req("POST", "/v1/scans", '{"scans":[{"qr":1,"at":1800000000000,"device":"ios","country":"DE"},{"qr":%s,"at":%s}]}' % (I64MAX, I64MIN), "X-API-Key: $key"),
    "qr-create": req("POST", "/v1/qr-codes", '{"label":"stand","target":"https://example.com"}'),
    "qr-list": req("GET", "/v1/qr-codes?limit=10"),
    "qr-stats": req("GET", "/v1/qr-codes/1/stats?from=1799999000000&to=1800000000000&bucket=minute"),
    "qr-stats-max": req("GET", "/v1/qr-codes/999999/stats?to=%s" % I64MAX),
    "qr-stats-min": req("GET", "/v1/qr-codes/1/stats?from=%s&to=%s&bucket=day" % (I64MIN, I64MIN)),
    "qr-stats-span": req("GET", "/v1/qr-codes/1/stats?from=-9223372036854775807&to=1000000000000&bucket=hour"),
    "counters": req("GET", "/v1/qr-codes/1/counters"),
    "notify": req("POST", "/v1/notify", '{"user_ids":["alice","bob"],"kind":"project_update","title":"t","body":"b","data":{"x":1},"idempotency_key":"k1"}', "X-API-Key: $key", "Idempotency-Key: k1\n"),
    "notifications": req("GET", "/v1/notifications?after=0&unread=true&limit=%s" % I64MAX),
    "notifications-read": req("POST", "/v1/notifications/read", '{"ids":[1,%s]}' % I64MAX),
    "notifications-read-upto": req("POST", "/v1/notifications/read", '{"up_to":%s}' % I64MIN),
    "quote-request": req("POST", "/v1/quote-requests", '{"title":"stand","services":["build"],"stand_size_sqm":24,"budget_min":1000,"budget_max":%s,"urgency":"high"}' % I64MAX),
    "quote-matches-add": req("POST", "/v1/quote-requests/1/matches", '{"matches":[{"builder":"bob","score":0.9,"breakdown":{"geographic":1,"experience":1,"capability":1,"availability":1}}]}', "X-API-Key: $key"),
    "quote-matches-get": req("GET", "/v1/quote-requests/1/matches"),
    "quote-matches-mine": req("GET", "/v1/quote-matches", auth="Authorization: Bearer $bob"),
    "quote-respond": req("POST", "/v1/quote-matches/1/respond", '{"status":"accepted","estimated_budget":%s,"proposal_summary":"s"}' % I64MAX, "Authorization: Bearer $bob"),
    "project": req("POST", "/v1/projects", '{"craftsman_id":"bob","title":"stand","budget":%s,"currency":"EUR","conversation_id":2}' % I64MAX, extra="X-Market: ok\n"),
    "project-get": req("GET", "/v1/projects/1"),
    "milestone": req("POST", "/v1/projects/1/milestones", '{"title":"m","due_on":"2026-12-01","amount":%s,"percentage":1e308,"requires_approval":true}' % I64MAX),
    "milestone-complete": req("POST", "/v1/projects/1/milestones/1/complete", auth="Authorization: Bearer $bob"),
    "milestone-approve": req("POST", "/v1/projects/1/milestones/%s/approve" % I64MAX),
    "contract": req("POST", "/v1/projects/1/contracts", '{"terms":{"scope":"all"},"milestones":[{"title":"a","amount":1}]}', extra="X-Market: ok\n"),
    "contract-get": req("GET", "/v1/contracts/1"),
    "contract-sign": req("POST", "/v1/contracts/1/sign", auth="Authorization: Bearer $bob"),
    "contract-amend": req("POST", "/v1/contracts/1/amend", '{"terms":{"scope":"less"}}'),
    "payment": req("POST", "/v1/projects/1/payments", '{"amount":%s,"currency":"EUR","method":"card","milestone_id":1,"installment_number":1,"installment_count":2}' % I64MAX, extra="Idempotency-Key: pay-1\n"),
    "payment-charged": req("POST", "/v1/projects/1/payments", '{"amount":10000,"currency":"EUR","method":"card"}', extra="X-Market: ok\nIdempotency-Key: pay-2\n"),
    "payment-fee": req("POST", "/v1/payments/calculate-fee", '{"amount":%s,"method":"sepa"}' % I64MIN),
    "payment-release": req("POST", "/v1/payments/1/release"),
    "payment-refund": req("POST", "/v1/payments/1/refund", '{"reason":"r","amount":-1}'),
    "payments": req("GET", "/v1/payments?project=1&page=%s" % I64MAX),
    "webhook": req("POST", "/v1/payments/webhook/sandbox", '{"provider_reference":"ref\\u0000x","event":"payment.succeeded"}', "X-API-Key: $key"),
    "admin-project": req("GET", "/v1/projects/1", auth="Authorization: Bearer $admin"),
    "nul-path": req("GET", "/v1/conversations/1%00/messages?limit=%00"),
    "bad-token": req("GET", "/v1/me", auth="Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."),
}
for name, text in requests.items():
    write("http", name, text)
