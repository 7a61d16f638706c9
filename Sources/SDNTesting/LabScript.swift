/// The shell preamble the namespace lab scripts share (path matrix, Proxmox traffic): variables, a
/// cleanup that kills what runs in the lab's namespaces and deletes them (also on exit), and `run`,
/// which stops the script with status 3 when a setup step fails.
public enum LabScript {
    /// `text` single-quoted for the shell.
    public static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// - Parameters:
    ///   - variables: lines of `NAME=value` pairs (values quoted here), in order.
    ///   - namespaces: the lab's namespace names without the `$P-` prefix.
    public static func preamble(variables: [[(String, String)]], namespaces: [String]) -> [String] {
        ["set -u"]
            + variables.map { line in line.map { "\($0.0)=\(quoted($0.1))" }.joined(separator: " ") }
            + [
                "mkdir -p \"$WORK\"",
                "cleanup() {",
                "  for name in \(namespaces.joined(separator: " ")); do",
                "    for pid in $(ip netns pids \"$P-$name\" 2>/dev/null); do kill -9 \"$pid\" 2>/dev/null; done",
                "    ip netns delete \"$P-$name\" 2>/dev/null",
                "  done",
                "}",
                "trap cleanup EXIT",
                "cleanup",
                "run() { \"$@\" || { echo \"setup failed: $*\" >&2; exit 3; }; }",
            ]
    }

    /// A guest as a hypervisor starts it: namespace `$P-g<id>` with `lo` up, and a veth whose node end (in
    /// `$P-node`) is named as sdn expects and whose guest end is `eth0` with the guest's MAC.
    public static func guest(id: Int, port: String, mac: String) -> [String] {
        let ns = "\"$P-g\(id)\""
        return [
            "run ip netns add \(ns)",
            "run ip -n \(ns) link set lo up",
            "run ip -n \"$P-node\" link add \(port) type veth peer name eth0 netns \(ns)",
            "run ip -n \(ns) link set eth0 address \(mac)",
        ]
    }
}
