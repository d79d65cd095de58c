import Foundation
import GRDB

/// Old bugs the simulation can put back, to show it finds them
/// (`SimulationOptions.reintroduce`).
enum BugSwitches {
    /// Makes a copied database look like it was never copied: its recorded
    /// file identity becomes the copy's own, so the store keeps the
    /// original's replica id (what every build before issue 19 did).
    static func hideCopy(at path: String) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        guard let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value,
              let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value else { return }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "UPDATE sync_meta SET value = ? WHERE key = 'file_identity'", arguments: ["\(device):\(inode)"])
        }
        try queue.close()
    }
}
