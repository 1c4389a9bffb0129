// swift-tools-version: 6.2
// Pacer: a rate-limited batch job runner for signed third-party HTTP APIs.
import PackageDescription

/// Swift 6 language mode everywhere; complete concurrency checking is implied by it.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Pacer",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pacer", targets: ["pacer"]),
        .executable(name: "pacer-bench", targets: ["PacerBench"]),
        .executable(name: "pacer-fuzz", targets: ["PacerFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // Pure domain: values, limits, durations, cron, JSON. No I/O, time is always passed in.
        .target(name: "PacerCore", swiftSettings: strict),
        // The limiter's maths, pure: windows, spends, pacing after refusals, probes, quotas (`now` passed in).
        .target(name: "PacerLimits", dependencies: ["PacerCore"], swiftSettings: strict),
        // Job files: YAML -> validated JobSpec -> a stream of calls.
        .target(
            name: "PacerJobs",
            dependencies: [
                "PacerCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "CSV", package: "CSV.swift"),
            ],
            swiftSettings: strict),
        // One file per provider: signer, envelope parser and code table. Pure: time and nonces are passed in.
        .target(
            name: "PacerProviders",
            dependencies: ["PacerCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // A local server speaking all four APIs, strictly: signatures, timestamps, sliding-window limits, faults.
        .target(
            name: "PacerEmulator",
            dependencies: [
                "PacerCore", "PacerProviders",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Sending: the HTTP transport today; the scheduler, workers and clock sync with the runner.
        .target(
            name: "PacerRunner",
            dependencies: [
                "PacerCore", "PacerLimits", "PacerProviders", "PacerStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // Putting work in the queue: the enqueuer (job files -> runs, one transaction) and the scheduler (schedules
        // -> runs at each tick). Domain logic the CLI, the runner's tick and a dashboard all share.
        .target(
            name: "PacerQueue",
            dependencies: ["PacerCore", "PacerJobs", "PacerLimits", "PacerStorage", "PacerProviders"],
            swiftSettings: strict),
        // Fuzz targets for the parsers (scripts/fuzz.sh builds them with libFuzzer; a normal build replays inputs).
        .executableTarget(
            name: "PacerFuzz",
            dependencies: ["PacerCore", "PacerJobs", "PacerProviders"],
            swiftSettings: strict),
        // The store protocol, its rows, and the rules written once over them (the limiter). No database library.
        .target(name: "PacerStorage", dependencies: ["PacerCore", "PacerLimits"], swiftSettings: strict),
        // The store on SQLite (GRDB), the embedded default; migrations embedded.
        .target(
            name: "PacerSQLite",
            dependencies: ["PacerCore", "PacerLimits", "PacerStorage", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // The store protocol on PostgreSQL (several machines, one limit): postgres-nio, the database server's clock.
        .target(
            name: "PacerPostgres",
            dependencies: [
                "PacerCore", "PacerLimits", "PacerStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // `pacer migrate-store`: an SQLite setup moved to PostgreSQL, the one place that knows both stores' rows.
        .target(
            name: "PacerStoreMove",
            dependencies: [
                "PacerCore", "PacerLimits", "PacerStorage", "PacerSQLite", "PacerPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        // What operators see and do: the JSON views (status, calls, one call) the commands and the dashboard share.
        .target(name: "PacerOperations", dependencies: ["PacerCore", "PacerLimits", "PacerProviders", "PacerStorage"], swiftSettings: strict),
        // `pacer web`: the dashboard (Hummingbird, one embedded page) and its JSON API.
        .target(
            name: "PacerWeb",
            dependencies: [
                "PacerCore", "PacerStorage", "PacerJobs", "PacerQueue", "PacerOperations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Command implementations; the executable only calls into this.
        .target(
            name: "PacerCLI",
            dependencies: [
                "PacerCore", "PacerLimits", "PacerJobs", "PacerStorage", "PacerSQLite", "PacerProviders", "PacerEmulator",
                "PacerRunner", "PacerQueue",
                "PacerPostgres", "PacerStoreMove", "PacerOperations", "PacerWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "pacer", dependencies: ["PacerCLI", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // Benchmarks print figures; they are programs, not tests.
        .executableTarget(
            name: "PacerBench",
            dependencies: [
                "PacerCore", "PacerLimits", "PacerJobs", "PacerStorage", "PacerSQLite", "PacerQueue", "PacerRunner",
                "PacerEmulator", "PacerProviders", "PacerTestSupport", "PacerWeb",
                "PacerPostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        // Helpers shared by the test targets (temporary folders, the repository's location).
        .target(name: "PacerTestSupport", dependencies: ["PacerStorage", "PacerSQLite", "PacerPostgres"], path: "Tests/PacerTestSupport",
                swiftSettings: strict),
        // glibc's allocator statistics, for the memory regression test (bytes in use, not RSS).
        .target(name: "CMallocInfo", path: "Tests/CMallocInfo"),
        .testTarget(name: "PacerCoreTests", dependencies: ["PacerCore", "PacerLimits"], swiftSettings: strict),
        .testTarget(name: "PacerProvidersTests", dependencies: ["PacerProviders"], swiftSettings: strict),
        .testTarget(
            name: "PacerEmulatorTests",
            dependencies: ["PacerEmulator", "PacerProviders", "PacerRunner", "PacerTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "PacerRunnerTests",
            dependencies: ["PacerRunner", "PacerEmulator", "PacerStorage", "PacerSQLite", "PacerPostgres", "PacerProviders", "PacerTestSupport", "pacer",
                           "CMallocInfo",
                           "PacerCLI", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: strict),
        .testTarget(
            name: "PacerWebTests",
            dependencies: ["PacerWeb", "PacerStorage", "PacerSQLite", "PacerPostgres", "PacerOperations", "PacerTestSupport", "pacer"],
            swiftSettings: strict),
        .testTarget(name: "PacerJobsTests", dependencies: ["PacerJobs", "PacerTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "PacerStoreTests",
            dependencies: ["PacerStorage", "PacerSQLite", "PacerPostgres", "PacerTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: strict),
        .testTarget(
            name: "PacerCLITests",
            dependencies: ["PacerCLI", "PacerQueue", "PacerStorage", "PacerSQLite", "PacerPostgres", "PacerStoreMove", "PacerRunner", "PacerJobs", "PacerOperations",
                           "PacerTestSupport", "pacer", "PacerFuzz",
                           .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
    ]
)
