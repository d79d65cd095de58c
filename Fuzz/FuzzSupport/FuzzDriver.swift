import Foundation

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

/// The one input function of the running target: libFuzzer's callback is a
/// C function and cannot capture it. Set once, before the driver starts.
nonisolated(unsafe) private var fuzzBody: (([UInt8]) -> Void)?

/// The entry point and reporting every fuzz target shares.
///
/// Built with `-DFUZZING` (scripts/fuzz.sh), `run` hands control to
/// libFuzzer's driver (SwiftPM renames an executable's `main`, so libFuzzer's
/// own `main` cannot be used); built plainly, it replays the files and
/// directories named on the command line through the same checks.
public enum FuzzDriver {
    public static func run(_ body: @escaping ([UInt8]) -> Void) -> Never {
        fuzzBody = body
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzBody?(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
        #else
        var count = 0
        for argument in CommandLine.arguments.dropFirst() where !argument.hasPrefix("-") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { "\(argument)/\($0)" }
                : [argument]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                body([UInt8](data))
                count += 1
            }
        }
        print("replayed \(count) input(s): no invariant broken")
        exit(0)
        #endif
    }

    /// Reports a broken invariant with the input, then traps (a libFuzzer crash).
    public static func fail(_ target: String, _ message: String, _ input: [UInt8], extra: [UInt8]? = nil) -> Never {
        var text = "\(target): invariant broken: \(message)\n  input (\(input.count) bytes): \(hex(input))\n"
        if let extra { text += "  re-encoded (\(extra.count) bytes): \(hex(extra))\n" }
        FileHandle.standardError.write(Data(text.utf8))
        fatalError("\(target): \(message)")
    }

    /// Removes the scratch directories (`PREFIX-PID-…` in `temp`, the temp
    /// dir by default) of earlier fuzz processes that are gone: a crash skips `atexit`.
    public static func removeStaleScratch(prefix: String, in temp: URL = FileManager.default.temporaryDirectory) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temp.path)) ?? [] where name.hasPrefix(prefix + "-") {
            guard let pid = Int32(name.dropFirst(prefix.count + 1).prefix { $0 != "-" }), pid != getpid(), kill(pid, 0) != 0 else { continue }
            try? FileManager.default.removeItem(at: temp.appendingPathComponent(name))
        }
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(512).map { String(format: "%02x", $0) }.joined()
        return bytes.count > 512 ? shown + "…" : shown
    }
}
