#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Fuzz/corpus/<target>/).

The wire encodings follow Sources/SyncCore/Sync/SyncMessageCodec.swift,
Codec/SlotStateCodec.swift and Codec/ChangeTableCodec.swift (docs/protocol.md).
Replay them with FUZZ_VERBOSE=1 through a target to see what each decodes to:

    FUZZ_VERBOSE=1 .build-fuzz/.../fuzz-frame Fuzz/corpus/fuzz-frame/*

Run from anywhere: python3 Fuzz/make-corpus.py (rewrites the corpus dirs).
"""
import json
import os
import shutil
import struct
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# Replica ids the fuzz-apply harness fixes: its own store, and the peer.
OWN = (0, 1)
PEER = (0, 2)
OTHER = (0, 3)
SEED = (0x5EED_0000_0000_0000, 1)
WALL = 1_767_225_600_000  # the harness's fixed wall clock (2026-01-01)


def hlc(millis, logical=0):
    return (millis & 0xFFFF_FFFF_FFFF) << 16 | logical


# --- primitives -------------------------------------------------------------

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def svarint(n):
    return varint(((n << 1) ^ (n >> 63)) & 0xFFFF_FFFF_FFFF_FFFF)


def string(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return varint(len(b)) + b


def replica(r):
    return struct.pack(">QQ", r[0], r[1])


def value(v):
    if v is None:
        return b"\x00"
    if v is True:
        return b"\x02"
    if v is False:
        return b"\x01"
    if isinstance(v, int):
        return b"\x03" + svarint(v)
    return b"\x04" + string(v)


# A state: (context, versions); context = [(replica, counter)] sorted by
# replica; versions = [(replica, counter, hlc, author, value)] sorted by dot.

def state(context, versions, rep=replica, author=string):
    ctx = sorted(context)
    out = varint(len(ctx))
    for r, c in ctx:
        out += rep(r) + varint(c)
    out += varint(len(versions))
    for r, c, h, a, v in sorted(versions, key=lambda x: (x[0], x[1])):
        index = [e[0] for e in ctx].index(r)
        out += varint(index) + varint(c) + struct.pack(">Q", h) + author(a) + value(v)
    return out


def key(collection, record, field, element=""):
    return string(collection) + string(record) + string(field) + string(element)


def changes_plain(changes):
    out = varint(len(changes))
    for k, (ctx, vs) in changes:
        out += key(*k) + state(ctx, vs)
    return out


def changes_tabled(changes, origins=None, knowledge=None):
    """origins (one (replica, seq) per change) and knowledge ((replica, seq)
    pairs): the 1.6 gossip section after the changes."""
    strings, replicas = {}, {}

    def s_index(s):
        strings.setdefault(s, len(strings))
        return varint(strings[s])

    def r_index(r):
        replicas.setdefault(r, len(replicas))
        return varint(replicas[r])

    body = varint(len(changes))
    for k, (ctx, vs) in changes:
        k = tuple(k) + ("",) * (4 - len(k))
        for part in k:
            body += s_index(part)
        body += state(ctx, vs, rep=r_index, author=s_index)
    if origins is not None or knowledge is not None:
        origins = origins or []
        body += varint(len(origins))
        for r, seq in origins:
            body += r_index(r) + varint(seq)
        knowledge = knowledge or []
        body += varint(len(knowledge))
        for r, seq in knowledge:
            body += r_index(r) + varint(seq)
    out = varint(len(replicas))
    for r in replicas:  # insertion order
        out += replica(r)
    out += varint(len(strings))
    for s in strings:
        out += string(s)
    return out + body


# --- messages ---------------------------------------------------------------

def hello(rep=PEER, name="laptop", schema_hash="abc123", flags=3, highest=42, major=1, minor=1, lineage=None, origin=None):
    out = b"\x01" + varint(major) + varint(minor) + replica(rep) + string(name) + string(schema_hash) + bytes([flags]) + varint(highest)
    # 1.4: the dataset's lineage, a trailing string
    if lineage is None:
        return out
    out += string(lineage)
    # 1.5: the join origin (seq, then replica when seq > 0)
    if origin is None:
        return out + varint(0)
    return out + varint(origin[1]) + replica(origin[0])


def snapshot_pull(offset=0, nbytes=1 << 20):
    return b"\x0f" + varint(offset) + varint(nbytes)


def snapshot_chunk(offset=0, total=5, data=b"SQLit", sha=b"", refusal=""):
    return b"\x10" + varint(offset) + varint(total) + varint(len(data)) + data + varint(len(sha)) + sha + string(refusal)


def snapshot_end(reason=""):
    return b"\x11" + string(reason)


def pull(cursor=0, count=2000, nbytes=1 << 20, wait=1):
    return b"\x02" + varint(cursor) + varint(count) + varint(nbytes) + bytes([wait])


def batch(changes, cursor=7, more=0, highest=9, tabled=False, origins=None, knowledge=None):
    head = bytes([11 if tabled else 3]) + varint(cursor) + bytes([more]) + varint(highest)
    return head + (changes_tabled(changes, origins, knowledge) if tabled else changes_plain(changes))


def knowledge_message(entries):
    out = b"\x12" + varint(len(entries))
    for r, seq in entries:
        out += replica(r) + varint(seq)
    return out


def digest_request(highest=5):
    return b"\x04" + varint(highest)


def digest(buckets, highest=3, caught_up=1):
    out = b"\x05" + varint(highest) + bytes([caught_up]) + varint(len(buckets))
    for b in buckets:
        out += string(bytes(b))
    return out


def repair_request(buckets):
    return b"\x06" + string(bytes(buckets))


def repair_batch(changes, last=1):
    return b"\x07" + bytes([last]) + changes_plain(changes)


def goodbye(reason):
    return b"\x0a" + string(reason)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def stream(*payloads):
    return b"".join(frame(p) for p in payloads)


# --- sample slots -----------------------------------------------------------

T = hlc(WALL - 60_000)


def single(rep, counter, v, author="alice", h=T):
    """A slot written once by `rep` at `counter`."""
    return ([(rep, counter)], [(rep, counter, h, author, v)])


COUNTRY = [
    (("countries", "cn", "_exists"), single(PEER, 1, True)),
    (("countries", "cn", "name"), single(PEER, 1, "China")),
    (("countries", "cn", "region"), single(PEER, 1, "asia")),
]
MINERAL_SET = [
    (("minerals", "cobalt", "_exists"), single(PEER, 2, True)),
    (("minerals", "cobalt", "name"), single(PEER, 2, "Cobalt")),
    (("minerals", "cobalt", "uses", "electric vehicles"), single(PEER, 2, True)),
    (("minerals", "cobalt", "uses", "renewable energy"), single(PEER, 2, False)),
]
CONFLICT = [  # two concurrent writers of one scalar: siblings
    (("countries", "us", "notes"), ([(PEER, 3), (OTHER, 5)],
                                   [(PEER, 3, T, "alice", "from the peer"), (OTHER, 5, T + 1, "bob", "from another")])),
]
DELETED = [  # a delete that saw the write: one version left
    (("countries", "cn", "_exists"), ([(PEER, 4)], [(PEER, 4, T + 5, "alice", False)])),
]
CONTEXT_ONLY = [  # a slot whose versions were all superseded elsewhere
    (("countries", "cn", "notes"), ([(PEER, 9), (OTHER, 2)], [])),
]
OWN_BACK = [  # our own replica id, with a counter we never issued
    (("countries", "fr", "name"), single(OWN, 3, "France")),
]
FUTURE = [  # dated a year ahead of the harness's wall clock
    (("countries", "de", "name"), single(PEER, 6, "Germany", h=hlc(WALL + 365 * 86_400_000))),
]
SCHEMA_PROBLEMS = [
    (("countries", "xx", "region"), single(PEER, 7, "atlantis")),      # not in the enum
    (("nowhere", "r1", "f"), single(PEER, 7, 12)),                      # unknown collection
    (("events", "e1", "starts"), single(PEER, 7, "2025-02-30")),       # not a date
    (("agreements", "a1", "parties", "countries/cn"), single(PEER, 7, True)),
    (("agreements", "a1", "parties", "not-a-ref"), single(PEER, 7, True)),
]
NFC = unicodedata.normalize("NFC", "Côte d'Ivoire")
NFD = unicodedata.normalize("NFD", "Côte d'Ivoire")
UNICODE_KEYS = [  # the same text as NFC and NFD bytes: two different slots
    (("countries", "ci", "name"), single(PEER, 8, NFC)),
    (("countries", "ci", "notes"), single(PEER, 8, NFD)),
    (("minerals", "m", "uses", NFC), single(PEER, 8, True)),
    (("minerals", "m", "uses", NFD), single(PEER, 8, True)),
]
BIG_COUNTER = [
    (("countries", "ng", "name"), single(PEER, (1 << 63) - 1, "Nigeria")),
]
HUGE_COUNTER = [  # above what SQLite holds: refused
    (("countries", "ng", "name"), single(PEER, (1 << 64) - 1, "Nigeria")),
]
INTS = [
    (("countries", "kh", "role"), single(PEER, 1, -(1 << 63))),
    (("countries", "kh", "notes"), single(PEER, 1, (1 << 63) - 1)),
    (("countries", "kh", "name"), single(PEER, 1, None)),
]
SAME_SLOT_TWICE = [
    (("countries", "za", "name"), single(PEER, 1, "South Africa")),
    (("countries", "za", "name"), ([(PEER, 2)], [(PEER, 2, T + 9, "alice", "RSA")])),
]


def collision_pair():
    """One dot with two contents, in two frames: a reused replica id."""
    a = [(("countries", "zw", "name"), single(OTHER, 4, "Zimbabwe", author="carol"))]
    b = [(("countries", "zw", "name"), single(OTHER, 4, "Rhodesia", author="dave"))]
    return a, b


# --- corpora ----------------------------------------------------------------

def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def frame_corpus():
    t = "fuzz-frame"
    payloads = {
        "hello": hello(),
        "hello-minor0": hello(minor=0, flags=1, name="desk", highest=0),
        "hello-lineage": hello(minor=4, lineage="trade-desk"),
        "hello-joined": hello(minor=5, flags=7, lineage="critical-minerals", origin=(PEER, 12345)),
        "snapshot-pull": snapshot_pull(offset=1 << 20),
        "snapshot-chunk": snapshot_chunk(),
        "snapshot-chunk-last": snapshot_chunk(offset=0, total=5, sha=bytes(range(32))),
        "snapshot-refused": snapshot_chunk(total=0, data=b"", refusal="busy"),
        "snapshot-end": snapshot_end("seed only"),
        "pull": pull(),
        "pull-wait0": pull(cursor=123456789, wait=0),
        "batch-empty": batch([]),
        "batch-country": batch(COUNTRY),
        "batch-conflict": batch(CONFLICT + CONTEXT_ONLY),
        "batch-unicode": batch(UNICODE_KEYS),
        "batch-ints": batch(INTS + BIG_COUNTER),
        "tabled-country": batch(COUNTRY + MINERAL_SET, tabled=True),
        "tabled-conflict": batch(CONFLICT + UNICODE_KEYS, tabled=True),
        "tabled-gossip": batch(COUNTRY + MINERAL_SET, cursor=9, tabled=True,
                               origins=[(OTHER, 5 + i) for i in range(len(COUNTRY + MINERAL_SET))],
                               knowledge=[(OTHER, 40), (SEED, 1)]),
        "knowledge": knowledge_message([(OTHER, 12), (PEER, 0), (OWN, 1 << 62)]),
        "digest-request": digest_request(),
        "digest": digest([[1] * 16, [0] * 16, []]),
        "repair-request": repair_request([0, 17, 255]),
        "repair-batch": repair_batch(MINERAL_SET, last=0),
        "ping": b"\x08",
        "pong": b"\x09",
        "goodbye": goodbye("schema hash differs"),
        "replica-proof": b"\x0c" + string(bytes(range(16))),
        "invitation-claim": b"\x0d" + string(bytes(range(1, 9))) + string(bytes(range(16))),
        "revocations": b"\x0e" + varint(2) + b"".join(
            bytes([i] * 32) + varint(1_800_000_000) + string("stolen") + string(bytes([7] * 32)) + string(bytes([0x30] + [1] * 69))
            for i in (1, 2)),
    }
    for name, payload in payloads.items():
        write(t, "payload-" + name, payload)
    write(t, "stream-session", stream(payloads["hello"], payloads["pull"], payloads["tabled-country"],
                                      payloads["digest-request"], payloads["ping"]))
    write(t, "stream-batches", stream(payloads["batch-country"], payloads["repair-batch"], payloads["goodbye"]))
    # edge cases
    write(t, "edge-empty-frame", b"\x00\x00\x00\x00")
    write(t, "edge-oversized", b"\x00\x01\x00\x01\x08")
    write(t, "edge-truncated", b"\x00\x00\x00\x0a\x08\x08")
    write(t, "edge-trailing-byte", frame(b"\x08\x00"))
    write(t, "edge-varint-nonminimal", b"\x04\x80\x00")
    write(t, "edge-varint-10-bytes", b"\x04" + b"\xff" * 9 + b"\x01")
    write(t, "edge-bad-utf8", b"\x0a\x02\xc3\x28")
    write(t, "edge-unknown-tag", b"\xee")
    write(t, "edge-flags-nonzero", hello(flags=0xff))


def apply_corpus():
    t = "fuzz-apply"
    a, b = collision_pair()
    seeds = {
        "country": [batch(COUNTRY)],
        "country-tabled": [batch(COUNTRY + MINERAL_SET, tabled=True)],
        "country-gossip": [batch(COUNTRY + MINERAL_SET, cursor=9, tabled=True,
                                 origins=[(OTHER, 3)] * len(COUNTRY + MINERAL_SET), knowledge=[(OTHER, 7)])],
        "then-deleted": [batch(COUNTRY), batch(DELETED, cursor=8)],
        "conflict": [batch(COUNTRY), batch(CONFLICT + CONTEXT_ONLY, tabled=True)],
        "own-replica-back": [batch(OWN_BACK)],
        "future": [batch(FUTURE)],
        "schema-problems": [batch(SCHEMA_PROBLEMS)],
        "unicode-keys": [batch(UNICODE_KEYS, tabled=True)],
        "big-counter": [batch(BIG_COUNTER)],
        "huge-counter-refused": [batch(HUGE_COUNTER)],
        "ints-and-null": [batch(INTS)],
        "same-slot-twice": [batch(SAME_SLOT_TWICE)],
        "dot-collision": [batch(a), batch(b, cursor=8)],
        "repair": [repair_batch(MINERAL_SET), batch(MINERAL_SET, tabled=True)],
        "nul-in-key-refused": [batch([(("countries", "a\x00b", "name"), single(PEER, 1, "x"))])],
        "session": [hello(), pull(), batch(COUNTRY), b"\x08", batch(CONFLICT, cursor=12)],
    }
    for name, payloads in seeds.items():
        write(t, name, stream(*payloads))


def import_corpus():
    t = "fuzz-import"
    # Selector byte: format = b % 3 (csv, json, jsonl); collection = b // 3 % 8
    # (countries, minerals, organizations, people, events, agreements, sources, none);
    # bit 0x80: re-export as JSON instead of CSV.
    def sel(fmt, coll, json_export=False):
        for b in range(256):
            if b % 3 == fmt and b // 3 % 8 == coll and bool(b & 0x80) == json_export:
                return bytes([b])
        raise ValueError

    csv_countries = ("id,name,region,role,notes\n"
                     "cn,China,asia,\"processor, exporter\",\"said \"\"yes\"\"\"\n"
                     "us,United States,north-america,,\n")
    write(t, "csv-countries", sel(0, 0) + csv_countries.encode())
    write(t, "csv-countries-crlf-bom", sel(0, 0, True) + ("\ufeff" + csv_countries.replace("\n", "\r\n")).encode())
    write(t, "csv-minerals-set", sel(0, 1) + b"id,name,category,uses\ncobalt,Cobalt,battery,electric vehicles; renewable energy\n")
    # Found by fuzz-import: a member opening with a combining mark (U+0742),
    # exported after "; ", kept the space when members were split by Character.
    write(t, "csv-member-opening-with-mark", sel(0, 1) + "id,name,category,uses\ncobalt,Cobalt,battery,\u0742b&lect; rergy\n".encode())
    # Members holding the separator, a backslash or edge spaces: JSON in, CSV export.
    write(t, "json-members-needing-escapes", sel(1, 1) + json.dumps([{"id": "w", "fields": {"name": "W", "category": "c",
          "uses": ["a;b", "C:\\data\\", " edge ", "\u0301x", "\\;"]}}], ensure_ascii=False).encode())
    write(t, "jsonl-crlf", sel(2, 0) + b'{"id": "fr", "fields": {"name": "France"}}\r\n{"id": "de", "fields": {"name": "Germany"}}\r\n')
    write(t, "csv-agreements-refs", sel(0, 5) + b"id,title,parties,announced,status\n"
          b"gmi,Green minerals,countries/cn; organizations/unido,2025-11-23,proposed\n")
    write(t, "csv-events-dates", sel(0, 4) + b"id,name,starts,ends\ng20,G20,2025-11-22,2025-11-23\n")
    write(t, "csv-quoted-newline", sel(0, 0) + b'id,name,notes\nfr,France,"line one\nline two"\n')
    write(t, "csv-bad-quote", sel(0, 0) + b'id,name\nfr,Fr"ance\n')
    write(t, "csv-unknown-column", sel(0, 0) + b"id,name,color\nfr,France,blue\n")
    write(t, "csv-no-collection", sel(0, 7) + b"id,name\nfr,France\n")
    records = [
        {"collection": "countries", "id": "cn", "fields": {"name": "China", "region": "asia"}},
        {"collection": "minerals", "id": "lithium", "fields": {"name": "Lithium", "uses": ["batteries"], "category": "battery"}},
        {"collection": "sources", "id": "doc-1", "fields": {"publisher": "Bloomberg", "published": "2025-11-23", "url": None}},
        {"collection": "people", "id": "li-qiang", "fields": {"name": "Li Qiang", "country": "countries/cn"}},
    ]
    write(t, "json-mixed", sel(1, 7) + json.dumps(records).encode())
    write(t, "json-mixed-json-export", sel(1, 7, True) + json.dumps(records).encode())
    write(t, "json-countries-given", sel(1, 0) + json.dumps([{"id": "de", "fields": {"name": "Germany", "notes": 12.5}}]).encode())
    write(t, "json-unicode", sel(1, 0, True) + json.dumps([{"id": "ci", "fields": {"name": NFD, "notes": NFC}}], ensure_ascii=False).encode())
    write(t, "json-not-array", sel(1, 7) + b'{"id": "x"}')
    write(t, "jsonl-mixed", sel(2, 7) + "\n".join(json.dumps(r) for r in records).encode() + b"\n")
    write(t, "jsonl-bad-line", sel(2, 0) + b'{"id": "fr", "fields": {"name": "France"}}\n{not json\n')


def main():
    # Files are overwritten, never removed: the corpora also hold inputs
    # added by hand from fuzz findings (regression-*, replica-proof, ...).
    frame_corpus()
    apply_corpus()
    import_corpus()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(CORPUS) for f in fs)
    print(f"wrote {sum(len(fs) for _, _, fs in os.walk(CORPUS))} files, {total} bytes, under {CORPUS}")


if __name__ == "__main__":
    main()
