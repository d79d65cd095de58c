#!/usr/bin/env python3
"""Where the bytes of a store's record rows go, and what a denser row would
take (docs/BENCHMARKS.md, "Where the size goes").

    python3 Benchmarks/row_bytes.py PATH/TO/data.db

Reads `sync_records.slots` as docs/storage-format.md lays it out (format 6;
rows of format 5 and before, which hold a hash per slot, too) and prints, per record, the bytes of each part. The projection re-encodes
every row as a denser layout would (not built): no per-slot hash (built in
format 6), the replica ids and authors of a row once in a row table (slots name them by
index), versions' HLCs as varint differences from the row's first, and the
slots' seqs as differences from the row's highest. It changes no data.
"""
import collections
import sqlite3
import sys


def varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def size(value):
    count = 1
    while value >= 0x80:
        value >>= 7
        count += 1
    return count


def string(data, at):
    length, at = varint(data, at)
    return data[at:at + length], at + length


def zigzag(value):
    return (value << 1) ^ (value >> 63)


def main(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    parts = collections.Counter()
    records = 0
    dense_total = 0
    for (blob,) in db.execute("SELECT slots FROM sync_records"):
        records += 1
        row = bytes(blob)
        at = 0
        count, at = varint(row, at)
        parts["slot count"] += size(count)
        replicas, authors, slots = [], [], []
        for _ in range(count):
            field, at = string(row, at)
            element, at = string(row, at)
            parts["field and member names"] += size(len(field)) + len(field) + size(len(element)) + len(element)
            seq, after = varint(row, at)
            parts["seq"] += after - at
            at = after
            flags = row[at]
            at += 1
            parts["flags"] += 1
            echo = origin = None
            if flags & 1:
                echo = row[at:at + 16]
                at += 16
                parts["echo replica"] += 16
            if flags & 2:
                origin_replica = row[at:at + 16]
                origin_seq, after = varint(row, at + 16)
                parts["origin"] += after - at
                at = after
                origin = (origin_replica, origin_seq)
            if not flags & 8:  # a row written before format 6 keeps the slot's hash
                at += 16
                parts["slot hash"] += 16
            length, after = varint(row, at)
            parts["state length"] += after - at
            state = row[after:after + length]
            at = after + length
            inner = 0
            entries, inner = varint(state, inner)
            parts["context count"] += size(entries)
            context = []
            for _ in range(entries):
                replica = state[inner:inner + 16]
                counter, after = varint(state, inner + 16)
                parts["context replica ids"] += 16
                parts["context counters"] += after - inner - 16
                inner = after
                context.append((replica, counter))
            versions_count, inner = varint(state, inner)
            parts["version count"] += size(versions_count)
            versions = []
            for _ in range(versions_count):
                start = inner
                index, inner = varint(state, inner)
                counter, inner = varint(state, inner)
                parts["version dots"] += inner - start
                hlc = int.from_bytes(state[inner:inner + 8], "big")
                inner += 8
                parts["version HLCs"] += 8
                author, inner = string(state, inner)
                parts["version authors"] += size(len(author)) + len(author)
                value_start = inner
                tag = state[inner]
                inner += 1
                if tag == 3:
                    _, inner = varint(state, inner)
                elif tag == 4:
                    _, inner = string(state, inner)
                parts["values (tag and bytes)"] += inner - value_start
                versions.append((index, counter, hlc, author, state[value_start:inner]))
            if inner != len(state):
                sys.exit(f"a state of {len(state)} bytes read as {inner}: not the layout of format 5 or 6")
            for replica in [r for r, _ in context] + [x for x in (echo, origin and origin[0]) if x]:
                if replica not in replicas:
                    replicas.append(replica)
            for version in versions:
                if version[3] not in authors:
                    authors.append(version[3])
            slots.append((field, element, seq, flags, echo, origin, context, versions))
        # The denser layout, byte for byte as it would be written.
        hlcs = [v[2] for slot in slots for v in slot[7]]
        base_hlc = hlcs[0] if hlcs else 0
        top_seq = max((slot[2] for slot in slots), default=0)
        dense = size(len(replicas)) + 16 * len(replicas) + size(len(authors)) + sum(size(len(a)) + len(a) for a in authors)
        dense += 8 + size(top_seq) + size(count)
        for field, element, seq, flags, echo, origin, context, versions in slots:
            dense += size(len(field)) + len(field) + size(len(element)) + len(element) + size(top_seq - seq) + 1
            if echo:
                dense += size(replicas.index(echo))
            if origin:
                dense += size(replicas.index(origin[0])) + size(origin[1])
            state = size(len(context)) + sum(size(replicas.index(r)) + size(c) for r, c in context) + size(len(versions))
            for index, counter, hlc, author, value in versions:
                state += size(index) + size(counter) + size(zigzag(hlc - base_hlc)) + size(authors.index(author)) + len(value)
            dense += size(state) + state
        dense_total += dense
    if records == 0:
        sys.exit("no record rows")
    total = sum(parts.values())
    print(f"{records} record rows, {total / records:.0f} bytes of row per record:")
    for name, count in parts.most_common():
        print(f"  {name:24s} {count / records:7.1f} B/record  {100 * count / total:5.1f}%")
    print(f"a denser row (no per-slot hash; replica ids and authors once per row; HLC and seq differences):")
    print(f"  {dense_total / records:7.1f} B/record, {100 * dense_total / total:.0f}% of today's")
    pages = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall() if has_dbstat(db) else []
    if pages:
        file_bytes = sum(p for _, p in pages)
        rows_bytes = sum(p for name, p in pages if name == "sync_records")
        projected = file_bytes - rows_bytes * (1 - dense_total / total)
        print(f"file: {file_bytes / 1e6:.1f} MB, of which record rows {rows_bytes / 1e6:.1f} MB; with the denser row about {projected / 1e6:.1f} MB")


def has_dbstat(db):
    try:
        db.execute("SELECT 1 FROM dbstat LIMIT 1").fetchall()
        return True
    except sqlite3.Error:
        return False


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
