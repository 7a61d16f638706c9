// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "sdn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sdn", targets: ["sdn"]),
        .executable(name: "sdnd", targets: ["sdnd"]),
        .library(name: "SDNModel", targets: ["SDNModel"]),
        .library(name: "SDNConfig", targets: ["SDNConfig"]),
        .library(name: "SDNTesting", targets: ["SDNTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The daemon: its store (SQLite), HTTP API, lifecycle, logs and metrics. The CLI links none of them.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // sdnd's https:// listeners: the self-signed certificate (swift-certificates, its PEM through
        // swift-asn1) and the TLS server (swift-nio-ssl, under HummingbirdTLS). The CLI uses the system's OpenSSL.
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // HTTP/1.1 to etcd's JSON gateway (SDNEtcd); already built for Hummingbird, named here because we import it.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Pure core: no C modules, no I/O that is not injected.
        .target(name: "SDNModel"),
        .target(name: "SDNConfig", dependencies: ["SDNModel", .product(name: "Yams", package: "Yams")]),
        // Proxmox VE's files (firewall, SDN, guest NICs, ifupdown2) → our Topologies/ and Policies/.
        .target(name: "SDNProxmoxImport", dependencies: ["SDNModel", "SDNConfig"]),

        .target(name: "SDNNFTables", dependencies: ["SDNModel"]),
        .target(name: "SDNFirewall", dependencies: ["SDNModel", "SDNNFTables", "SDNHostNetwork"]),
        .target(name: "SDNDataplane", dependencies: ["SDNModel", "SDNNFTables"]),
        .target(name: "SDNHostNetwork", dependencies: ["SDNModel", "SDNDataplane"]),
        .target(name: "SDNReconciler", dependencies: ["SDNModel", "SDNDataplane", "SDNHostNetwork", "SDNNFTables"]),

        // Impure edges.
        .target(name: "SDNNetns"),
        .target(
            name: "SDNCLI",
            dependencies: [
                "SDNModel", "SDNConfig", "SDNNFTables", "SDNFirewall", "SDNDataplane", "SDNNFTablesNetlink", "SDNNetns",
                "SDNHostNetwork", "SDNReconciler", "SDNRouteNetlink", "SDNProxmoxImport", "SDNGuests", "COpenSSL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "sdn", dependencies: ["SDNCLI"]),
        // TLS of the client's https:// connections: the system's OpenSSL, imported by SDNCLI only
        // (`TLSConnection`), so that `sdn` links no NIO and compiles no BoringSSL.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // The controller: revisioned store, reconcile loop, HTTP API, and the `sdnd` service.
        .target(name: "SDNStore", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // The cluster's store: `StateStore` on etcd v3 through its JSON gateway.
        .target(
            name: "SDNEtcd",
            dependencies: [
                "SDNStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SDNDaemon",
            dependencies: [
                "SDNStore", "SDNModel", "SDNConfig", "SDNFirewall", "SDNNFTables", "SDNDataplane", "SDNHostNetwork", "SDNReconciler",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "SDNServer",
            dependencies: [
                "SDNStore", "SDNDaemon", "SDNModel", "SDNConfig", "SDNFirewall", "SDNNFTables", "SDNReconciler",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("openapi.yaml")]
        ),
        .executableTarget(
            name: "sdnd",
            dependencies: [
                "SDNServer", "SDNDaemon", "SDNStore", "SDNEtcd", "SDNGuests", "SDNModel", "SDNFirewall", "SDNNFTablesNetlink", "SDNRouteNetlink", "SDNNetns",
                "SDNDataplane", "SDNReconciler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The traffic prober of the path-matrix tests (host namespaces and the kernel lab): libc only.
        .executableTarget(name: "sdn-probe"),
        // Writes revisions until killed, for the store's crash test (SDNStoreTests kills it with SIGKILL).
        .executableTarget(name: "sdn-store-torture", dependencies: ["SDNStore"]),
        // The cluster benchmark (`sdn-bench cluster`) adds the etcd store (so NIO, as sdnd links it) and the
        // daemon's RevisionCompiler, so that its simulated nodes do a real node's work minus the kernel.
        .executableTarget(name: "sdn-bench", dependencies: ["SDNModel", "SDNConfig", "SDNNFTables", "SDNFirewall", "SDNNFTablesNetlink", "SDNNetns", "SDNDataplane", "SDNHostNetwork", "SDNReconciler", "SDNRouteNetlink",
                                                           "SDNStore", "SDNEtcd", "SDNDaemon"]),

        // nftables over netlink: the only module that imports libnftnl and libmnl.
        .systemLibrary(name: "CNFTNL", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev", "libmnl-dev"])]),
        .target(
            name: "CNFTNLShim",
            linkerSettings: [.linkedLibrary("mnl"), .linkedLibrary("nftnl")]
        ),
        .target(name: "SDNNFTablesNetlink", dependencies: ["SDNModel", "SDNNFTables", "SDNDataplane", "SDNNetns", "CNFTNL", "CNFTNLShim", "CNetlinkMessages"]),

        // Links over rtnetlink: the only module that imports libnl-3 (its netlink message and attribute API;
        // the rtnetlink messages come from the kernel's uapi headers, so libnl-route-3 is not needed).
        .systemLibrary(name: "CNLRoute", pkgConfig: "libnl-3.0", providers: [.apt(["libnl-3-dev"])]),
        // The shim uses only the kernel's uapi headers (acks with extended-ack text, tap creation), not libnl.
        .target(name: "CNLRouteShim"),
        .target(name: "SDNRouteNetlink", dependencies: ["SDNModel", "SDNDataplane", "SDNNetns", "CNLRoute", "CNLRouteShim", "CNetlinkMessages"]),
        // Reading netlink replies (acks with extended-ack text): shared by both kernel adapters.
        .target(name: "CNetlinkMessages"),

        // Guests through libvirt: the only module that imports libvirt (domains, their XML, lifecycle
        // events on an event-loop thread), with the pure parts beside it (domain XML parsing, `sdn guest
        // xml`/`adopt` rewrites, `sdn import libvirt`).
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .target(name: "SDNGuests", dependencies: ["SDNModel", "SDNConfig", "CLibvirt"]),

        // Shared test support: golden files, system-test traits, namespace helpers.
        .target(name: "SDNTesting", dependencies: ["SDNNetns", "SDNConfig", "SDNDataplane", "SDNNFTables", "SDNStore", "SDNGuests"]),

        .testTarget(name: "SDNModelTests", dependencies: ["SDNModel", "SDNTesting"]),
        .testTarget(
            name: "SDNConfigTests",
            dependencies: ["SDNConfig", "SDNModel", "SDNTesting"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "SDNProxmoxImportTests",
            dependencies: ["SDNProxmoxImport", "SDNConfig", "SDNModel", "SDNFirewall", "SDNNFTables", "SDNTesting"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "SDNNetnsTests", dependencies: ["SDNNetns", "SDNTesting"]),
        .testTarget(name: "SDNCLITests", dependencies: ["SDNCLI", "SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(name: "SDNFirewallTests", dependencies: ["SDNFirewall", "SDNConfig", "SDNModel", "SDNNFTables", "SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(
            name: "SDNIntegrationTests",
            dependencies: ["SDNFirewall", "SDNConfig", "SDNModel", "SDNNFTables", "SDNNFTablesNetlink", "SDNDataplane", "SDNNetns", "SDNTesting",
                           "SDNHostNetwork", "SDNReconciler", "SDNRouteNetlink", "SDNEtcd"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "SDNHostNetworkTests", dependencies: ["SDNHostNetwork", "SDNDataplane", "SDNConfig", "SDNModel", "SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(name: "SDNReconcilerTests", dependencies: ["SDNReconciler", "SDNHostNetwork", "SDNDataplane", "SDNConfig", "SDNModel", "SDNFirewall", "SDNTesting"], exclude: ["Fixtures", "NodeReconcilerFixtures"]),
        .testTarget(name: "SDNRouteNetlinkTests", dependencies: ["SDNRouteNetlink", "SDNDataplane", "SDNNetns", "SDNModel", "SDNTesting"]),
        .testTarget(name: "SDNStoreTests", dependencies: ["SDNStore", "SDNTesting", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "SDNEtcdTests", dependencies: ["SDNEtcd", "SDNStore", "SDNTesting"]),
        .testTarget(name: "SDNDaemonTests", dependencies: ["SDNDaemon", "SDNEtcd", "SDNStore", "SDNReconciler", "SDNDataplane", "SDNConfig", "SDNModel", "SDNTesting",
                                                             .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "SDNServerTests", dependencies: ["SDNServer", "SDNDaemon", "SDNStore", "SDNTesting", "SDNModel", "SDNConfig",
                                                             .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "SDNGuestsTests", dependencies: ["SDNGuests", "SDNModel", "SDNConfig", "SDNNetns", "SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(name: "KernelLabTests", dependencies: ["SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(name: "SDNNFTablesTests", dependencies: ["SDNNFTables", "SDNModel", "SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(
            name: "SDNNFTablesNetlinkTests",
            dependencies: ["SDNNFTablesNetlink", "SDNNFTables", "SDNDataplane", "SDNNetns", "SDNModel", "SDNTesting", "SDNConfig", "SDNFirewall"]
        ),
    ]
)

// Every Swift target spells an existential `any P` (as Hummingbird does), so the cost of boxing shows at
// the use site; and imports are internal unless written `public import`, so the modules a target's
// public API exposes are named where they are exposed. The C targets and system libraries have no Swift.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ]
}
