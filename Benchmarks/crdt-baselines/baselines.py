#!/usr/bin/env python3
"""Benchmark 6: the workloads of benchmarks 1, 2 and 4 in Loro and in Yrs
(pycrdt), as a map of maps held in memory.

For N synthetic agreements (the same eight fields and values as syncbench's
SyntheticDataset):
  build   - write the N records into a fresh document (local import)
  export  - encode the whole document as one update
  import  - apply that update to an empty document (remote apply)
  delta   - change one field on 1,000 records, export the delta since the
            previous version, apply it to the peer
  one     - the bytes of the delta for one changed field

Prints one JSON object per library on stdout (min and median over the
repetitions). Run by `syncbench libraries`; usable alone:
  python3 baselines.py --records 10000 --repetitions 3
"""
import argparse
import json
import statistics
import time

STATUSES = ["proposed", "negotiating", "active", "suspended", "expired"]
KINDS = ["initiative", "concession", "supply", "export-control", "license"]
SUMMARY = "A deal on cobalt, lithium and rare earths between two parties. " * 3


def fields(record):
    return {
        "title": f"Synthetic agreement number {record} on critical minerals supply",
        "kind": KINDS[record % 5],
        "status": STATUSES[record % 5],
        "announced": f"2025-{record % 12 + 1:02d}-15",
        "summary": SUMMARY,
    }


def sets(record):
    return {"parties": [f"countries/c{record % 50}"], "minerals": [f"minerals/m{record % 10}"]}


def rec_id(record):
    return f"agreement-{record}"


class LoroRun:
    name = "loro"

    def __init__(self):
        import loro
        self.loro = loro

    def version(self):
        from importlib.metadata import version
        return version("loro")

    def build(self, n):
        doc = self.loro.LoroDoc()
        root = doc.get_map("agreements")
        for record in range(n):
            item = root.insert_container(rec_id(record), self.loro.LoroMap())
            item.insert("_exists", True)
            for key, value in fields(record).items():
                item.insert(key, value)
            for key, members in sets(record).items():
                member_map = item.insert_container(key, self.loro.LoroMap())
                for member in members:
                    member_map.insert(member, True)
            if record % 10_000 == 9_999:
                doc.commit()
        doc.commit()
        return doc

    def export_all(self, doc):
        # The op log from the start (what a peer that has nothing receives);
        # a Snapshot export imports lazily and would not be the same work.
        return doc.export(self.loro.ExportMode.Updates(self.loro.VersionVector()))

    def fresh(self):
        return self.loro.LoroDoc()

    def apply(self, doc, update):
        doc.import_(update)

    def state(self, doc):
        return doc.oplog_vv

    def change(self, doc, records, start):
        root = doc.get_map("agreements")
        for record in records:
            root.get(rec_id(record)).container.insert("title", f"Changed title {start} {record}")
        doc.commit()

    def delta(self, doc, since):
        return doc.export(self.loro.ExportMode.Updates(since))


class YrsRun:
    name = "yrs (pycrdt)"

    def __init__(self):
        import pycrdt
        self.pycrdt = pycrdt

    def version(self):
        from importlib.metadata import version
        return version("pycrdt")

    def build(self, n):
        doc = self.pycrdt.Doc()
        root = doc.get("agreements", type=self.pycrdt.Map)
        for first in range(0, n, 10_000):
            with doc.transaction():
                for record in range(first, min(n, first + 10_000)):
                    item = {"_exists": True, **fields(record)}
                    for key, members in sets(record).items():
                        item[key] = self.pycrdt.Map({member: True for member in members})
                    root[rec_id(record)] = self.pycrdt.Map(item)
        return doc

    def export_all(self, doc):
        return doc.get_update()

    def fresh(self):
        return self.pycrdt.Doc()

    def apply(self, doc, update):
        doc.apply_update(update)

    def state(self, doc):
        return doc.get_state()

    def change(self, doc, records, start):
        root = doc.get("agreements", type=self.pycrdt.Map)
        with doc.transaction():
            for record in records:
                root[rec_id(record)]["title"] = f"Changed title {start} {record}"

    def delta(self, doc, since):
        return doc.get_update(since)


def timed(body):
    started = time.perf_counter()
    result = body()
    return time.perf_counter() - started, result


def run(library, n, changes, repetitions):
    figures = {key: [] for key in ["build_s", "export_s", "import_s", "delta_export_s", "delta_import_s"]}
    sizes = {}
    for repetition in range(repetitions):
        build, doc = timed(lambda: library.build(n))
        export, update = timed(lambda: library.export_all(doc))
        peer = library.fresh()
        imported, _ = timed(lambda: library.apply(peer, update))
        since = library.state(doc)
        changed = [(record * 7_919) % n for record in range(min(changes, n))]
        library.change(doc, changed, repetition)
        delta_export, delta = timed(lambda: library.delta(doc, since))
        delta_import, _ = timed(lambda: library.apply(peer, delta))
        since = library.state(doc)
        library.change(doc, [n // 2], f"one-{repetition}")
        one = library.delta(doc, since)
        for key, value in [("build_s", build), ("export_s", export), ("import_s", imported),
                           ("delta_export_s", delta_export), ("delta_import_s", delta_import)]:
            figures[key].append(value)
        sizes = {"snapshot_bytes": len(update), "delta_bytes": len(delta), "one_change_bytes": len(one)}
    summary = {"library": library.name, "version": library.version(), "records": n, "changes": min(changes, n)}
    for key, values in figures.items():
        summary[key] = {"min": min(values), "median": statistics.median(values)}
    summary.update(sizes)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--repetitions", type=int, default=3)
    arguments = parser.parse_args()
    for library in (LoroRun, YrsRun):
        try:
            instance = library()
        except ImportError as error:
            print(json.dumps({"library": library.name, "error": f"not installed: {error}"}), flush=True)
            continue
        print(json.dumps(run(instance, arguments.records, arguments.changes, arguments.repetitions)), flush=True)


if __name__ == "__main__":
    main()
