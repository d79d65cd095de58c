/// The lineage of a dataset: the name of the seed schema it grew from
/// (docs/schema.md, "Another team's dataset"). Replicas of one lineage hold
/// one dataset and sync; replicas of two must never meet, because each
/// lineage seeds its records with the same seed dots `(seed, 1…n)` and
/// other contents (replication-model §2.3, §8). Pure.
public enum SchemaLineage {
    /// The shipped dataset's lineage; also that of a peer whose hello has
    /// no lineage field (protocol < 1.4, which can hold no other dataset).
    public static var shipped: String { Schema.criticalMinerals.name }

    /// The longest lineage, in UTF-8 bytes: a seed schema's name, and the
    /// hello's field (a reader refuses more).
    public static let maxBytes = 256

    /// Whether two lineages are one: byte for byte, never by Swift's
    /// canonical equivalence (replication-model §2.4).
    public static func same(_ a: String, _ b: String) -> Bool {
        UTF8Identity.equal(a, b)
    }

    /// A lineage as logs and `syncctl status` show it: control and format
    /// characters written as `\u{…}`, so a peer's name cannot break a log
    /// line and two names that differ only in invisible characters show
    /// the difference.
    public static func display(_ name: String) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            if scalar.properties.generalCategory.isHiddenOrUnassigned {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Checks a schema meant to seed another team's dataset, beyond what
    /// `Schema.load` checks (which refuses collection names starting with
    /// `_`, reserved for the replicated schema): its name is a usable
    /// lineage (1–256 bytes, no control characters).
    public static func checkSeed(_ schema: Schema, source: String) throws(SchemaError) {
        guard !schema.name.isEmpty, schema.name.utf8.count <= maxBytes else {
            throw .invalidSchema(path: source, reason: "\"name\" is the dataset's lineage, which peers compare: give 1 to \(maxBytes) bytes (it has \(schema.name.utf8.count))")
        }
        guard !schema.name.unicodeScalars.contains(where: { [.control, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory) }) else {
            throw .invalidSchema(path: source, reason: "\"name\" '\(display(schema.name))' holds a control character or line break; the name is shown in logs and status, use printable text")
        }
    }
}
