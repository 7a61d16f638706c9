import Foundation

/// The daemon tests' node: `n1` with uplink `eth0`, vnet `web` (10.10.0.0/24), and guests on it.
enum DaemonFixtures {
    /// Guest `id` gets 10.10.0.`id - 90` and MAC 52:54:00:00:01:`id - 100` (101 → .11, :01).
    static func topology(guests: [Int] = [101], kind: String? = nil) -> String {
        var text = """
            nodes:
              n1:
                uplinks: { eth0: {} }
            zones:
              local: { type: simple }
            vnets:
              web:
                zone: local
                subnets:
                  10.10.0.0/24: { gateway: 10.10.0.1 }
            guests:

            """
        for id in guests {
            text += "  \(id):\n    node: n1\n"
            if let kind { text += "    kind: \(kind)\n" }
            text += "    nics:\n      net0: { vnet: web, mac: \"\(mac(id))\", ip: [\(address(id))] }\n"
        }
        return text
    }

    static func address(_ id: Int) -> String { "10.10.0.\(id - 90)" }
    static func mac(_ id: Int) -> String { "52:54:00:00:01:" + String(format: "%02x", id - 100) }
}
