import Foundation
import SDNDataplane
import SDNModel
import SDNNetns
import SDNRouteNetlink
import SDNTesting
import Testing

/// A fresh namespace with a `NetlinkLinks` in it, and the reference tools (`ip -j`, `bridge -j`) to check
/// what it did. The namespace is deleted afterwards, whatever happens.
struct LinkLab {
    let namespace: NetworkNamespace
    let links: NetlinkLinks

    static func run(_ body: (LinkLab) async throws -> Void) async throws {
        try await withTemporaryNetworkNamespace { namespace in
            try await body(LinkLab(namespace: namespace, links: try NetlinkLinks(namespace: namespace)))
        }
    }

    /// Performs each operation in order, failing the test with the operation's error.
    func perform(_ operations: LinkOperation...) async throws {
        for operation in operations { try await links.perform(operation) }
    }

    /// The error `operation` fails with, or nil (and an issue) if it succeeds.
    func failure(of operation: LinkOperation, sourceLocation: Testing.SourceLocation = #_sourceLocation) async -> LinkOperationError? {
        do {
            try await links.perform(operation)
            Issue.record("expected \(operation) to fail", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// The error `operation` fails with, or nil when it succeeds (for features a kernel may lack).
    func error(of operation: LinkOperation) async -> LinkOperationError? {
        do {
            try await links.perform(operation)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Reference tools

    /// `ip -j ARGS` (or `bridge -j ARGS`) in the namespace, decoded.
    func json(_ tool: String = "ip", _ arguments: String...) throws -> [[String: Any]] {
        let text = try Shell.output([tool, "-j"] + arguments, in: namespace)
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
    }

    /// `ip -j -d link show dev NAME`.
    func link(_ name: String) throws -> [String: Any] {
        guard let link = try json("ip", "-d", "link", "show", "dev", name).first else {
            throw LabFailure("ip shows no link \(name)")
        }
        return link
    }

    func linkExists(_ name: String) throws -> Bool {
        try Shell.run(["ip", "link", "show", "dev", name], in: namespace).status == 0
    }

    @discardableResult
    func shell(_ arguments: String...) throws -> String {
        try Shell.output(arguments, in: namespace)
    }
}

struct LabFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension [String: Any] {
    /// A value at a path of keys, e.g. `link["linkinfo", "info_data", "id"]`.
    subscript(_ keys: String...) -> Any? {
        var current: Any? = self
        for key in keys { current = (current as? [String: Any])?[key] }
        return current
    }

    var flags: [String] { self["flags"] as? [String] ?? [] }
}

func mac(_ text: String) -> MACAddress { try! MACAddress(text) }
func address(_ text: String) -> IPAddress { try! IPAddress(text) }
func prefix(_ text: String) -> IPPrefix { try! IPPrefix(text) }
