// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "syncd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SyncCore", targets: ["SyncCore"]),
        // Test helpers, a product so the fuzz targets (a package of their own, scripts/fuzz.sh) can use them too.
        .library(name: "TestSupport", targets: ["TestSupport"]),
        .executable(name: "syncd", targets: ["syncd"]),
        .executable(name: "syncctl", targets: ["syncctl"]),
        .executable(name: "syncbench", targets: ["syncbench"]),
        .executable(name: "simulate", targets: ["simulate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // One C wrapper: SQLite's per-connection switches are variadic C.
        .target(name: "CSQLiteSwitches", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "SyncCore",
            dependencies: [
                "CSQLiteSwitches",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The web app: HTTP server, security rules, JSON API, embedded pages.
        .target(
            name: "SyncWeb",
            dependencies: [
                "SyncCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "syncd",
            dependencies: [
                "SyncCore",
                "SyncWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "syncctl",
            dependencies: [
                "SyncCore",
                "SyncWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "syncbench",
            dependencies: [
                "SyncCore",
                "SyncSimulation",
                "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks/syncbench"
        ),
        // Deterministic simulation: replicas with real stores, session
        // machines over a simulated network, one seeded scheduler.
        .target(name: "SyncSimulation", dependencies: ["SyncCore", .product(name: "Logging", package: "swift-log"),
                                                 .product(name: "GRDB", package: "GRDB.swift")]),
        .executableTarget(
            name: "simulate",
            dependencies: ["SyncSimulation", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Test helper: applies remote batches in a loop so a test can SIGKILL it mid-transaction.
        .executableTarget(
            name: "store-crash-helper",
            dependencies: ["SyncCore"],
            path: "Tests/Helpers/store-crash-helper"
        ),
        // Shared by the test targets: temporary directories, built executables.
        .target(name: "TestSupport", dependencies: ["SyncCore", .product(name: "GRDB", package: "GRDB.swift")], path: "Tests/TestSupport"),
        .testTarget(
            name: "SyncCoreTests",
            dependencies: [
                "SyncCore",
                "SyncSimulation",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "SimulationTests", dependencies: ["SyncSimulation", "SyncCore", "TestSupport"]),
        .testTarget(name: "SyncWebTests", dependencies: ["SyncWeb", "SyncCore", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "SyncCore",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ]
)
