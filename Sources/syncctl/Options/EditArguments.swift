import ArgumentParser
import SyncCore

/// `FIELD=VALUE`, `SETFIELD+=MEMBER` and `SETFIELD-=MEMBER` arguments, checked
/// against the collection's schema before anything is written.
enum EditArguments {
    static func parse(_ arguments: [String], for collection: CollectionSchema) throws -> [FieldEdit] {
        try arguments.map { argument in
            guard let (before, value) = ScalarText.splitOnce(argument, at: "=") else {
                throw ValidationError("'\(argument)' is not an edit: write FIELD=VALUE, SETFIELD+=MEMBER or SETFIELD-=MEMBER")
            }
            var name = before
            var operation: Character = "="
            if let last = name.last, last == "+" || last == "-" {
                operation = last
                name.removeLast()
            }
            let field = try collection.requireField(name)
            switch operation {
            case "+": return .add(field.name, try field.validateMember(value))
            case "-": return .remove(field.name, try field.validateMember(value))
            default:
                if field.isSet {
                    throw ValidationError("'\(name)' is a set: add with \(name)+=MEMBER, remove with \(name)-=MEMBER")
                }
                return .set(field.name, try field.parse(value))
            }
        }
    }
}
