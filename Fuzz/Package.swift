// swift-tools-version: 6.0
// The libFuzzer executables, one per target in SwitchboardFuzzing. A package
// of its own so that `swift build` / `swift test` of the main package never
// links libFuzzer; scripts/fuzz builds it with -sanitize=fuzzer,address.
import PackageDescription

let targets = ["frames", "jwt", "http"]

let package = Package(
    name: "switchboard-fuzz",
    platforms: [.macOS(.v14)],
    products: targets.map { .executable(name: "fuzz-\($0)", targets: ["fuzz-\($0)"]) },
    dependencies: [.package(name: "switchboard", path: "..")],
    targets: [
        .target(name: "FuzzDriver", dependencies: [.product(name: "SwitchboardFuzzing", package: "switchboard")])
    ]
        + targets.map {
            .executableTarget(name: "fuzz-\($0)", dependencies: ["FuzzDriver"], path: "Sources/\($0)")
        },
    swiftLanguageModes: [.v6]
)
