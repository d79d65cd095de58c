import Crypto
import Foundation
import PropertyBased
import Testing
@testable import SyncCore

/// The schema hash travels in the handshake and is stored in every database,
/// so it must never change for a given schema. It covers the canonical JSON
/// that `JSONEncoder` writes with sorted keys; `CanonicalSchemaJSON` writes
/// those bytes directly, and these tests hold it to the encoder.
@Suite("Schema hash", .timeLimit(.minutes(3)))
struct SchemaHashTests {
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    static func encoderBytes(_ schema: Schema) -> [UInt8] {
        Schema.canonicalJSONByEncoder(name: schema.name, version: schema.version, collections: schema.collections)
    }

    @Test func theEmbeddedSchemaIsWrittenAsTheEncoderWritesIt() {
        let schema = Schema.criticalMinerals
        let direct = CanonicalSchemaJSON.encode(name: schema.name, version: schema.version, collections: schema.collections)
        #expect(direct != nil)
        #expect(direct == Self.encoderBytes(schema))
        #expect(schema.hash == Self.sha256Hex(Self.encoderBytes(schema)))
    }

    /// Characters JSON treats specially (quotes, backslashes, slashes, control
    /// characters) and non-ASCII ones, in names, descriptions and values.
    static let alphabet: [String] = ["a", "z", "_", "0", " ", "/", "\"", "\\", "é", "–", "中", "😀", "\n", "\t", "\u{7f}", "<", "&", "'"]

    static func text(_ numbers: [Int]) -> String { numbers.map { alphabet[$0 % alphabet.count] }.joined() }

    static func field(_ numbers: [Int]) -> FieldSchema {
        let pick = numbers.first ?? 0
        let kinds: [FieldSchema.Kind] = [.text, .integer, .decimal, .date, .bool, .enumeration, .ref, .set]
        return FieldSchema(name: text(Array(numbers.prefix(4))), type: kinds[pick % kinds.count],
                           required: pick % 3 == 0 ? nil : pick % 3 == 1,
                           values: pick % 5 == 0 ? nil : numbers.map { text([$0, $0 / 7]) },
                           targets: pick % 4 == 0 ? nil : [text(Array(numbers.suffix(3)))],
                           of: pick % 6 == 0 ? nil : (pick % 2 == 0 ? .text : .ref),
                           description: pick % 7 < 3 ? nil : text(numbers.reversed()))
    }

    /// Random schemas: the direct bytes equal the encoder's whenever no string
    /// holds a control character, and the hash is the encoder's either way.
    @Test func randomSchemasAreWrittenAsTheEncoderWritesThem() async {
        let numbers = Gen.int(in: 0...10_000).array(of: 0...6)
        await propertyCheck(count: 200, input: numbers, numbers.array(of: 0...5), Gen.int(in: 0...1_000)) { names, fields, version in
            let collection = CollectionSchema(name: Self.text(names), description: version % 2 == 0 ? nil : Self.text(names.reversed()),
                                              fields: fields.map(Self.field))
            let schema = Schema(name: Self.text(names.suffix(2)), version: version, collections: [collection, collection])
            let expected = Self.encoderBytes(schema)
            let direct = CanonicalSchemaJSON.encode(name: schema.name, version: schema.version, collections: schema.collections)
            let hasControl = String(decoding: expected, as: UTF8.self).contains("\\u00") || expected.contains(Array("\\n".utf8)) || expected.contains(Array("\\t".utf8))
            if let direct {
                #expect(direct == expected, "direct: \(String(decoding: direct, as: UTF8.self))\nencoder: \(String(decoding: expected, as: UTF8.self))")
            } else {
                #expect(hasControl, "left to the encoder without a control character")
            }
            #expect(schema.hash == Self.sha256Hex(expected))
        }
    }
}
