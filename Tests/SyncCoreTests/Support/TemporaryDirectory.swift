import Foundation
@testable import SyncCore

import TestSupport

extension TemporaryDirectory {
    /// A fresh store on a real file in this directory.
    func store(_ name: String = "data.db", options: Store.Options = Store.Options(), deviceID: String? = nil) throws -> Store {
        try Store(path: path(name), schema: .criticalMinerals, deviceID: deviceID, options: options)
    }
}

func ref(_ text: String) -> RecordRef { RecordRef(parsing: text)! }
