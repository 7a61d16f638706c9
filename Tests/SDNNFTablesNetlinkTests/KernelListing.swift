import Foundation
import SDNNetns
import SDNTesting

/// The reference tool's view of a namespace's ruleset, normalised so two loads can be compared.
enum KernelListing {
    /// `nft -j list ruleset`, without handles and version info, set elements sorted (hash sets list
    /// in an order that depends on a per-set random seed), pretty-printed with sorted keys.
    static func json(in namespace: NetworkNamespace) throws -> String {
        let output = try Shell.output(["nft", "-j", "list", "ruleset"], in: namespace)
        let document = try JSONSerialization.jsonObject(with: Data(output.utf8))
        let normalised = normalise(document, key: nil)
        let data = try JSONSerialization.data(withJSONObject: normalised, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private static func normalise(_ value: Any, key: String?) -> Any {
        if let dictionary = value as? [String: Any] {
            var result: [String: Any] = [:]
            for (key, value) in dictionary where key != "handle" && key != "metainfo" {
                result[key] = normalise(value, key: key)
            }
            return result
        }
        if let array = value as? [Any] {
            var items = array.map { normalise($0, key: nil) }.filter { item in
                // The metainfo object is the first element of the top-level list.
                !((item as? [String: Any])?.isEmpty ?? false)
            }
            if key == "elem" || key == "set" {
                // Serialise each item once: comparing through JSON text is slow.
                items = items.map { (canonicalText($0), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
            }
            return items
        }
        return value
    }

    private static func canonicalText(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// `nft --debug=netlink list ruleset`: the exact expressions of every rule (registers, lengths,
    /// data) and every set element in the kernel's encoding, with handles removed and each set's
    /// elements sorted.
    static func expressions(in namespace: NetworkNamespace) throws -> String {
        let result = try Shell.run(["nft", "--debug=netlink", "list", "ruleset"], in: namespace)
        guard result.status == 0 else { throw ShellError(code: .failed, command: ["nft", "--debug=netlink"], message: "failed", status: result.status, stderr: result.stderr) }
        var lines: [String] = []
        var elements: [String] = []
        func flush() {
            lines += elements.sorted()
            elements = []
        }
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("\telement ") {
                elements.append(line)
                continue
            }
            flush()
            // Rule headers end in the rule's handle (and position): `inet sdn input 14 12`.
            var words = line.split(separator: " ").map(String.init)
            if !line.hasPrefix(" "), !line.hasPrefix("\t"), words.count >= 3 {
                while words.count > 3, words.last.map({ Int($0) != nil }) == true { words.removeLast() }
                lines.append(words.joined(separator: " "))
            } else {
                lines.append(line)
            }
        }
        flush()
        return lines.joined(separator: "\n")
    }

    /// `nft -f` of `text` in `namespace`.
    static func load(_ text: String, in namespace: NetworkNamespace) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdn-netlink-\(UUID().uuidString).nft").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try Shell.output(["nft", "-f", path], in: namespace)
        } catch var error as ShellError {
            // Show the text nft complained about, numbered as in its message.
            let numbered = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { "\($0.offset + 1): \($0.element)" }
            error.stdout += "\n" + numbered.joined(separator: "\n")
            throw error
        }
    }

    /// A readable difference between two listings, or nil when equal.
    static func difference(_ expected: String, _ actual: String) -> String? {
        LineDifference.describe(expected: expected, actual: actual, maximumLines: 80)
    }
}
