/// The canonical JSON that the schema hash covers, written directly.
///
/// The bytes are exactly those `JSONEncoder` writes with sorted keys for the
/// schema's coded properties (`SchemaHashTests` holds them to that), without
/// its generic machinery: every `syncctl` command hashes the schema when it
/// opens the store, and the encoder cost about a millisecond of each.
enum CanonicalSchemaJSON {
    /// Nil when a string holds a control character: `JSONEncoder` escapes
    /// those, and the caller lets it.
    static func encode(name: String, version: Int, collections: [CollectionSchema]) -> [UInt8]? {
        var writer = Writer()
        writer.byte(UInt8(ascii: "{"))
        writer.key("collections", first: true)
        writer.array(collections) { writer, collection in
            writer.byte(UInt8(ascii: "{"))
            var first = true
            if let description = collection.description { writer.key("description", first: first); writer.string(description); first = false }
            writer.key("fields", first: first)
            writer.array(collection.fields) { writer, field in writer.field(field) }
            writer.key("name", first: false)
            writer.string(collection.name)
            writer.byte(UInt8(ascii: "}"))
        }
        writer.key("name", first: false)
        writer.string(name)
        writer.key("version", first: false)
        writer.bytes.append(contentsOf: String(version).utf8)
        writer.byte(UInt8(ascii: "}"))
        return writer.isCanonical ? writer.bytes : nil
    }

    private struct Writer {
        var bytes: [UInt8] = []
        var isCanonical = true

        init() { bytes.reserveCapacity(4_096) }

        mutating func byte(_ byte: UInt8) { bytes.append(byte) }

        /// A string as `JSONEncoder` writes it: quotes, backslashes and
        /// slashes escaped, everything else (non-ASCII too) as is.
        mutating func string(_ text: String) {
            bytes.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(byte)
                case ..<0x20:
                    isCanonical = false
                default:
                    bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func key(_ name: String, first: Bool) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            string(name)
            bytes.append(UInt8(ascii: ":"))
        }

        mutating func array<Element>(_ elements: [Element], _ body: (inout Writer, Element) -> Void) {
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                body(&self, element)
            }
            bytes.append(UInt8(ascii: "]"))
        }

        /// A field's keys in sorted order; absent optionals are left out.
        mutating func field(_ field: FieldSchema) {
            byte(UInt8(ascii: "{"))
            var first = true
            if let deprecated = field.deprecated { key("deprecated", first: first); bytes.append(contentsOf: (deprecated ? "true" : "false").utf8); first = false }
            if let description = field.description { key("description", first: first); string(description); first = false }
            if let label = field.label { key("label", first: first); string(label); first = false }
            key("name", first: first)
            string(field.name)
            if let of = field.of { key("of", first: false); string(of.rawValue) }
            if let required = field.required { key("required", first: false); bytes.append(contentsOf: (required ? "true" : "false").utf8) }
            if let targets = field.targets { key("targets", first: false); array(targets) { writer, target in writer.string(target) } }
            key("type", first: false)
            string(field.type.rawValue)
            if let values = field.values { key("values", first: false); array(values) { writer, value in writer.string(value) } }
            byte(UInt8(ascii: "}"))
        }
    }
}
