// swift-tools-version: 6.0
// Switchboard: a realtime hub over libwebsockets, libpq and OpenSSL.
import PackageDescription

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .executable(name: "switchboard-load", targets: ["SwitchboardLoad"]),
        // For the libFuzzer executables in Fuzz/ (a package of their own).
        .library(name: "SwitchboardFuzzing", targets: ["SwitchboardFuzzing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // C libraries from Debian, each wrapped by exactly one Swift module.
        .systemLibrary(name: "CLibWebSockets", pkgConfig: "libwebsockets",
                       providers: [.apt(["libwebsockets-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),

        .target(name: "SwitchboardWire"),
        .target(name: "SwitchboardAuth", dependencies: ["CCrypto", "SwitchboardWire"]),
        .target(name: "SwitchboardHub", dependencies: [
            "SwitchboardWire", "SwitchboardAuth",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        .target(name: "SwitchboardLWS", dependencies: [
            "CLibWebSockets", "SwitchboardHub", "SwitchboardWire",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SwitchboardPostgres", dependencies: [
            "CLibPQ", "SwitchboardHub", "SwitchboardWire",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The Redis broker's wire between nodes (pub/sub over hiredis).
        .target(name: "SwitchboardRedis", dependencies: [
            "CHiredis", "SwitchboardHub",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The hub's in-memory fakes, shared by the unit tests and the fuzz targets.
        .target(name: "SwitchboardHubTesting", dependencies: [
            "SwitchboardHub", "SwitchboardAuth", "SwitchboardWire",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The bodies of the libFuzzer targets in Fuzz/ (built by scripts/fuzz,
        // never by `swift build`); the unit tests replay the corpus through them.
        .target(name: "SwitchboardFuzzing", dependencies: [
            "SwitchboardHubTesting", "SwitchboardHub", "SwitchboardAuth", "SwitchboardWire",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "switchboard", dependencies: [
            "SwitchboardHub", "SwitchboardLWS", "SwitchboardPostgres", "SwitchboardRedis", "SwitchboardAuth",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [.copy("Dashboard")]),
        // The load tool drives its client WebSockets with lws directly
        // (LWSClientPool.swift); the server module exports no C.
        .executableTarget(name: "SwitchboardLoad", dependencies: [
            "CLibWebSockets", "SwitchboardWire", "SwitchboardAuth", "SwitchboardPostgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], path: "loadtest/Sources"),

        .testTarget(name: "SwitchboardWireTests", dependencies: ["SwitchboardWire"]),
        .testTarget(name: "SwitchboardAuthTests", dependencies: ["SwitchboardAuth"]),
        .testTarget(name: "SwitchboardHubTests", dependencies: ["SwitchboardHub", "SwitchboardHubTesting", "SwitchboardAuth"]),
        .testTarget(name: "SwitchboardFuzzingTests", dependencies: ["SwitchboardFuzzing"]),
        .testTarget(name: "SwitchboardEndToEndTests", dependencies: [
            "SwitchboardHub", "SwitchboardLWS", "SwitchboardPostgres", "SwitchboardRedis", "SwitchboardAuth",
            "SwitchboardWire",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
