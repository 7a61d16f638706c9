// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "sdn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sdn", targets: ["sdn"]),
        .library(name: "SDNModel", targets: ["SDNModel"]),
        .library(name: "SDNConfig", targets: ["SDNConfig"]),
        .library(name: "SDNTesting", targets: ["SDNTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Pure core: no C modules, no I/O that is not injected.
        .target(name: "SDNModel"),
        .target(name: "SDNConfig", dependencies: ["SDNModel", .product(name: "Yams", package: "Yams")]),
        // Proxmox VE's files (firewall, SDN, guest NICs, ifupdown2) → our Topologies/ and Policies/.
        .target(name: "SDNProxmoxImport", dependencies: ["SDNModel", "SDNConfig"]),

        .target(name: "SDNNFTables", dependencies: ["SDNModel"]),
        .target(name: "SDNFirewall", dependencies: ["SDNModel", "SDNNFTables"]),
        .target(name: "SDNDataplane", dependencies: ["SDNModel", "SDNNFTables"]),
        .target(name: "SDNHostNetwork", dependencies: ["SDNModel", "SDNDataplane"]),
        .target(name: "SDNReconciler", dependencies: ["SDNModel", "SDNDataplane", "SDNHostNetwork", "SDNNFTables"]),

        // Impure edges.
        .target(name: "SDNNetns"),
        .target(
            name: "SDNCLI",
            dependencies: [
                "SDNModel", "SDNConfig", "SDNNFTables", "SDNFirewall", "SDNDataplane", "SDNNFTablesNetlink", "SDNNetns",
                "SDNHostNetwork", "SDNReconciler", "SDNRouteNetlink", "SDNProxmoxImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "sdn", dependencies: ["SDNCLI"]),
        // The traffic prober of the path-matrix tests (host namespaces and the kernel lab): libc only.
        .executableTarget(name: "sdn-probe"),
        .executableTarget(name: "sdn-bench", dependencies: ["SDNModel", "SDNNFTables", "SDNFirewall", "SDNNFTablesNetlink", "SDNNetns", "SDNDataplane", "SDNHostNetwork", "SDNReconciler", "SDNRouteNetlink"]),

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

        // Shared test support: golden files, system-test traits, namespace helpers.
        .target(name: "SDNTesting", dependencies: ["SDNNetns", "SDNConfig", "SDNDataplane", "SDNNFTables"]),

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
                           "SDNHostNetwork", "SDNReconciler", "SDNRouteNetlink"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "SDNHostNetworkTests", dependencies: ["SDNHostNetwork", "SDNDataplane", "SDNConfig", "SDNModel", "SDNTesting"], exclude: ["Fixtures"]),
        .testTarget(name: "SDNReconcilerTests", dependencies: ["SDNReconciler", "SDNHostNetwork", "SDNDataplane", "SDNConfig", "SDNModel", "SDNFirewall", "SDNTesting"], exclude: ["Fixtures", "NodeReconcilerFixtures"]),
        .testTarget(name: "SDNRouteNetlinkTests", dependencies: ["SDNRouteNetlink", "SDNDataplane", "SDNNetns", "SDNModel", "SDNTesting"]),
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
