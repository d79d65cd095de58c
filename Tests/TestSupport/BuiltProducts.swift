import Foundation

/// Where `swift build` put the package's executables (next to the test bundle).
public enum BuiltProducts {
    public static var directory: URL {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidate = testBinary.deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while candidate.pathExtension == "xctest" || candidate.lastPathComponent == "MacOS" || candidate.lastPathComponent == "Contents" {
            candidate.deleteLastPathComponent()
        }
        return candidate
    }

    public static func executable(_ name: String) -> URL { directory.appendingPathComponent(name) }
}
