// swift-tools-version: 6.1
// The Switchboard client SDK: a package of its own, because its WebSocket
// client (swift-websocket on SwiftNIO and swift-nio-ssl) adds minutes to a
// clean build that the hub itself does not need.
import PackageDescription

let package = Package(
    name: "SwitchboardClient",
    platforms: [.macOS(.v14), .iOS(.v17), .tvOS(.v17)],
    products: [
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "SwitchboardClient",
            dependencies: [
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "SwitchboardClientTests", dependencies: ["SwitchboardClient"]),
    ],
    swiftLanguageModes: [.v6]
)
