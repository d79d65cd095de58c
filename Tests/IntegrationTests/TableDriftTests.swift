import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// A write to a collection table that bypasses the triggers (a client
    /// with triggers off) is not a replicated edit: the table disagrees with
    /// the replicated state. `syncctl check` says so, naming the row, and
    /// `--repair` rewrites the table from the slots.
    @Suite struct TableDrift {
        let root = TemporaryDirectory("syncd-table-drift")

        /// Writes the table the way no replicated edit can: with triggers off.
        func sqlite(_ database: String, _ sql: String) throws -> String {
            let result = try SQLiteShell.run(database, sql, triggersOff: true)
            #expect(result.status == 0, "sqlite3 \(sql): \(result)")
            return result.stdout
        }

        @Test func checkNamesADriftedRowAndRepairRewritesIt() throws {
            let cli = try Syncctl(in: root)
            let database = cli.directory.appendingPathComponent("data.db").path
            #expect(try cli.run(["check"]).status == 0)
            let digest = try cli.digest()
            let before = try sqlite(database, "select status from agreements where id = 'green-minerals-initiative'")
            // Three kinds of write behind the store's back.
            _ = try sqlite(database, "update agreements set status = 'expired' where id = 'green-minerals-initiative'")
            _ = try sqlite(database, "delete from countries where id = 'cn'")
            _ = try sqlite(database, "insert into minerals(id, name) values ('unobtainium', 'Unobtainium')")
            let check = try cli.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            let output = try #require(try check.json() as? [String: Any])
            let rows = try #require(output["tableRows"] as? [[String: String]])
            #expect(output["tableRowsCount"] as? Int == 3)
            #expect(rows.contains { $0["slot"] == "agreements/green-minerals-initiative" && $0["detail"]?.contains("status") == true }, "\(rows)")
            #expect(rows.contains { $0["slot"] == "countries/cn" && $0["detail"]?.contains("missing") == true })
            #expect(rows.contains { $0["slot"] == "minerals/unobtainium" && $0["detail"]?.contains("does not exist") == true })
            let human = try cli.run(["check"])
            #expect(human.stdout.contains("agreements/green-minerals-initiative") && human.stdout.contains("--repair"), "\(human)")

            let repair = try cli.run(["check", "--repair"])
            #expect(repair.status == 0, "\(repair)")
            #expect(repair.stdout.contains("repaired"))
            #expect(try sqlite(database, "select status from agreements where id = 'green-minerals-initiative'") == before)
            #expect(try sqlite(database, "select name from countries where id = 'cn'") == "China")
            #expect(try sqlite(database, "select count(*) from minerals where id = 'unobtainium'") == "0")
            #expect(try cli.run(["check"]).status == 0)
            // The replicated state was never touched.
            #expect(try cli.digest() == digest)
        }

        /// A digest bucket written behind the store's back (`sqlite3` on
        /// `sync_buckets`): no peer would see this replica equal. `check`
        /// names the bucket and exits 1; `--repair` writes it again from the
        /// states, and the digest is the one it was.
        @Test func checkNamesADigestBucketThatIsNotTheStatesAndRepairWritesIt() throws {
            let cli = try Syncctl(in: root, name: "digest")
            let database = cli.directory.appendingPathComponent("data.db").path
            let digest = try cli.digest()
            _ = try sqlite(database, "update sync_buckets set digest = zeroblob(16) where bucket = 7")
            _ = try sqlite(database, "update sync_buckets set digest = x'0102' where bucket = 200")
            #expect(try cli.digest() != digest)
            let check = try cli.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            let output = try #require(try check.json() as? [String: Any])
            let buckets = try #require(output["digestBuckets"] as? [[String: String]])
            #expect(buckets.map { $0["slot"] } == ["bucket 7", "bucket 200"], "\(buckets)")
            #expect(output["clean"] as? Bool == false)
            let human = try cli.run(["check"])
            #expect(human.stdout.contains("digest buckets that are not the ones the states make: 2") && human.stdout.contains("--repair"), "\(human)")

            let repair = try cli.run(["check", "--repair", "--json"])
            #expect(repair.status == 0, "\(repair)")
            let repaired = try #require(try repair.json() as? [String: Any])
            #expect(repaired["digestRepaired"] as? Int == 2)
            #expect((repaired["digestBuckets"] as? [Any])?.isEmpty == true)
            #expect(try cli.digest() == digest)
            #expect(try cli.run(["check"]).status == 0)

            // A row syncd never writes (a copy whose collection is a blob): the checks stop, naming it, and change nothing.
            _ = try sqlite(database, """
                insert into sync_records(collection, record, slots, slot_count, conflicted)
                select cast(collection as blob), record, slots, slot_count, conflicted from sync_records where record = 'zw'
                """)
            for arguments in [["check"], ["check", "--repair"]] {
                let stopped = try cli.run(arguments)
                #expect(stopped.status != 0 && stopped.stderr.contains("not rows syncd writes") && stopped.stderr.contains("snapshot restore"), "\(stopped)")
            }
            #expect(try cli.digest() == digest)
        }

        /// A store table declared otherwise (here `sync_buckets` without
        /// its primary key, so a bucket can have two rows and a write may
        /// land where a read does not look): `check` names it and exits 1;
        /// `--repair` makes no repair, saying what to do.
        @Test func checkNamesAStoreTableDeclaredOtherwiseAndRepairRefuses() throws {
            let cli = try Syncctl(in: root, name: "layout")
            let database = cli.directory.appendingPathComponent("data.db").path
            #expect(try cli.run(["check"]).status == 0)
            _ = try sqlite(database, """
                create table loose_buckets(bucket integer, digest blob);
                insert into loose_buckets select bucket, digest from sync_buckets;
                insert into loose_buckets select bucket, zeroblob(16) from sync_buckets where bucket = (select min(bucket) from sync_buckets);
                drop table sync_buckets;
                alter table loose_buckets rename to sync_buckets;
                """)
            let check = try cli.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            let output = try #require(try check.json() as? [String: Any])
            let layout = try #require(output["storeLayout"] as? [String])
            #expect(layout.contains { $0.contains("sync_buckets") }, "\(layout)")
            #expect(output["clean"] as? Bool == false)
            #expect((output["snapshotBlockers"] as? [String])?.isEmpty == true)
            // A bucket written behind the store's back too: named, but no `--repair` hint while the table rules it out.
            _ = try sqlite(database, "update sync_buckets set digest = x'00000000000000000000000000000001' where bucket = 77")
            let human = try cli.run(["check"])
            #expect(human.stdout.contains("store tables or indexes not as syncd makes them: 1") && human.stdout.contains("snapshot restore"), "\(human)")
            #expect(!human.stdout.contains("`syncctl check --repair` writes"), "\(human)")
            let repair = try cli.run(["check", "--repair"])
            #expect(repair.status != 0 && repair.stderr.contains("not as syncd declares them") && repair.stderr.contains("no repair was made"), "\(repair)")
            #expect(try sqlite(database, "select hex(digest) from sync_buckets where bucket = 77") == "00000000000000000000000000000001")
            #expect(try sqlite(database, "select max(n) from (select count(*) as n from sync_buckets group by bucket)") == "2")
        }

        /// A new data directory where `sql` ran (sqlite3, triggers off) and an
        /// agreement's table row drifted: `check --json` exits 1; its output.
        func checked(_ name: String, after sql: String) throws -> (cli: Syncctl, database: String, output: [String: Any]) {
            let cli = try Syncctl(in: root, name: name)
            let database = cli.directory.appendingPathComponent("data.db").path
            _ = try sqlite(database, sql)
            _ = try sqlite(database, "update agreements set status = 'expired' where id = 'green-minerals-initiative'")
            let check = try cli.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            return (cli, database, try #require(try check.json() as? [String: Any]))
        }

        /// A collection table made again by another program with its `id`
        /// compared without case (`COLLATE NOCASE`): syncd finds a record's
        /// row by `id = ?`, so a write of "CN" overwrites the row of "cn".
        /// `check` names the table, and `--repair` makes it again from the
        /// replicated state, keyed by id as bytes.
        @Test func checkNamesATableKeyedWithoutCaseAndRepairMakesItAgain() throws {
            let cli = try Syncctl(in: root, name: "key")
            let database = cli.directory.appendingPathComponent("data.db").path
            let declared = try sqlite(database, "select sql from sqlite_master where name = 'countries'")
            #expect(declared.contains("id TEXT PRIMARY KEY NOT NULL"), "\(declared)")
            let nocase = declared.replacingOccurrences(of: "id TEXT PRIMARY KEY NOT NULL", with: "id TEXT COLLATE NOCASE PRIMARY KEY NOT NULL")
            _ = try sqlite(database, "alter table countries rename to countries_before; \(nocase); insert into countries select * from countries_before; drop table countries_before")
            let check = try cli.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            let tables = try #require(try check.json() as? [String: Any])["collectionTables"] as? [String]
            #expect(tables?.count == 1 && tables?[0].contains("countries") == true && tables?[0].contains("NOCASE") == true, "\(tables ?? [])")
            #expect(try cli.run(["check"]).stdout.contains("syncctl check --repair` makes it again"))
            // What the check guards against: creating "CN" replaced China's row.
            #expect(try cli.run(["create", "countries/CN", "name=Capitals"]).status == 0)
            #expect(try sqlite(database, "select group_concat(id || '=' || name) from countries where lower(id) = 'cn'") == "CN=Capitals", "cn's row gone")

            let repair = try cli.run(["check", "--repair", "--json"])
            #expect(repair.status == 0, "\(repair)")
            let repaired = try #require(try repair.json() as? [String: Any])
            #expect(repaired["tablesRebuilt"] as? [String] == ["countries"])
            #expect((repaired["collectionTables"] as? [Any])?.isEmpty == true)
            #expect(try sqlite(database, "select id || '=' || name from countries where id in ('cn', 'CN') order by id") == "CN=Capitals\ncn=China")
            #expect(try cli.run(["check"]).status == 0)
        }

        /// A daemon started on such a table says so once in its log, and
        /// points at `syncctl check`.
        @Test func aDaemonStartedOnATableKeyedOtherwiseSaysSo() async throws {
            let daemon = try DaemonProcess("warned", in: root)
            try await daemon.start()
            try await daemon.stop()
            #expect(!daemon.log().contains("not laid out as syncd makes it"))
            let database = daemon.directory.appendingPathComponent("data.db").path
            _ = try sqlite(database, "alter table countries rename to countries_before; create table countries as select * from countries_before; drop table countries_before")
            try await daemon.start()
            #expect(daemon.log().contains("not laid out as syncd makes it; run `syncctl check`") && daemon.log().contains("its table countries"), "\(daemon.log(last: 20))")
            try await daemon.stop()
        }

        /// A UNIQUE index of the analyst's own on a collection table: syncd's
        /// writes of the table (`INSERT OR REPLACE`) would remove another
        /// record's row by it. `check` names it, `--repair` waits until it is
        /// dropped.
        @Test func checkNamesAUniqueIndexOfOneselfAndRepairWaitsForItsDrop() throws {
            let (cli, database, output) = try checked("unique", after: "create unique index my_titles on agreements(title)")
            let layout = try #require(output["storeLayout"] as? [String])
            #expect(layout.count == 1 && layout[0].contains("my_titles") && layout[0].contains("agreements"), "\(layout)")
            let repair = try cli.run(["check", "--repair"])
            #expect(repair.status != 0 && repair.stderr.contains("no repair was made") && repair.stderr.contains("DROP INDEX"), "\(repair)")
            #expect(try sqlite(database, "select status from agreements where id = 'green-minerals-initiative'") == "expired")
            _ = try sqlite(database, "drop index my_titles")
            #expect(try cli.run(["check", "--repair"]).status == 0)
            #expect(try sqlite(database, "select status from agreements where id = 'green-minerals-initiative'") != "expired")
        }

        /// A trigger of the analyst's own (made with sqlite3) does not touch
        /// syncd's writes (they run with triggers off) but fails every
        /// snapshot's verification: `check` names it and exits 1, `--repair`
        /// still repairs a drifted row, and once it is dropped all is clean.
        @Test func checkNamesATriggerOfOneselfAndRepairStillRepairs() throws {
            let (cli, database, output) = try checked("trigger", after: "create trigger mine after update on countries begin select 1; end")
            #expect((output["storeLayout"] as? [String])?.isEmpty == true)
            let blockers = try #require(output["snapshotBlockers"] as? [String])
            #expect(blockers == ["a trigger the store does not make: mine on countries"], "\(blockers)")
            let repair = try cli.run(["check", "--repair", "--json"])
            #expect(repair.status == 1, "\(repair)")
            let repaired = try #require(try repair.json() as? [String: Any])
            #expect(repaired["repaired"] as? Int == 1 && repaired["tableRowsCount"] as? Int == 0, "\(repaired)")
            let human = try cli.run(["check"])
            #expect(human.stdout.contains("DROP TRIGGER"), "\(human)")
            _ = try sqlite(database, "drop trigger mine")
            #expect(try cli.run(["check"]).status == 0)
        }

        @Test func textThatLooksEqualButIsNotIsADifference() throws {
            let cli = try Syncctl(in: root, name: "nfc")
            let database = cli.directory.appendingPathComponent("data.db").path
            try cli.run(["set", "countries/de", "name=Café"])
            // The same word with a combining accent (NFD): equal as Swift strings, not as bytes.
            _ = try sqlite(database, "update countries set name = 'Cafe' || char(769) where id = 'de'")
            let check = try cli.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            #expect(check.stdout.contains("countries/de"))
            #expect(try cli.run(["check", "--repair"]).status == 0)
            #expect(try sqlite(database, "select hex(name) from countries where id = 'de'") == "436166C3A9")
        }
    }
}
