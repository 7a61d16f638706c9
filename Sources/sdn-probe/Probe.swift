import Glibc

/// A small traffic prober for the path-matrix tests, for the host's namespaces and the kernel lab's
/// busybox guest alike (it needs only libc and the Swift runtime, so no Foundation libraries).
///
///     sdn-probe serve --tcp 22,80,81 --udp 7777
///         accepts TCP connections on every port given (IPv4 and IPv6, any address) and closes them at
///         once; prints `udp SOURCE PAYLOAD` for every datagram on the UDP ports. Runs until killed.
///     sdn-probe connect --timeout-ms 1500 ID,DESTINATION,PORT[,SOURCE]…
///         opens all connections at once and prints `ID OUTCOME [errno]` for each, where OUTCOME is
///         `connected`, `refused` (RST), `unreachable` (ICMP), `local-drop` (EPERM: this host's own
///         output hook dropped the SYN) or `timeout`.
///     sdn-probe send --interface eth0 --src-mac M --dst-mac M --src-ip A --dst-ip B --port P --payload TEXT
///         sends one Ethernet frame with a UDP datagram built by hand (any source MAC and address), on a
///         packet socket: what a guest forging its source would put on the wire.
///     sdn-probe send-frames --interface eth0 --file FRAMES
///         sends the Ethernet frames of FRAMES (one per line, in hex; `pause` waits 300 ms) in order.
enum Probe {
    static func main(_ arguments: [String]) -> Int32 {
        guard let command = arguments.first else { return usage("no command") }
        let options = Array(arguments.dropFirst())
        switch command {
        case "serve": return serve(options)
        case "connect": return connect(options)
        case "send": return send(options)
        case "send-frames": return sendFrames(options)
        default: return usage("unknown command \(command)")
        }
    }

    static func usage(_ problem: String) -> Int32 {
        fail("sdn-probe: \(problem)\nusage: sdn-probe serve --tcp PORTS [--udp PORTS] | connect [--timeout-ms N] ID,DEST,PORT[,SOURCE]… | send --interface IF --src-mac M --dst-mac M --src-ip A --dst-ip B --port P --payload TEXT | send-frames --interface IF --file FRAMES")
        return 64
    }

    static func fail(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// Writes a line to standard output at once (no buffering: the output is read while the prober runs).
    static func say(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
    }

    /// `--name value` pairs and the remaining words.
    static func parse(_ options: [String]) -> (named: [String: String], words: [String]) {
        var named: [String: String] = [:]
        var words: [String] = []
        var index = 0
        while index < options.count {
            let option = options[index]
            if option.hasPrefix("--"), index + 1 < options.count {
                named[String(option.dropFirst(2))] = options[index + 1]
                index += 2
            } else {
                words.append(option)
                index += 1
            }
        }
        return (named, words)
    }

    static func ports(_ text: String?) -> [UInt16] {
        (text ?? "").split(separator: ",").compactMap { UInt16($0) }
    }

    static func errnoName(_ code: Int32) -> String {
        switch code {
        case EPERM: "EPERM"
        case EACCES: "EACCES"
        case ECONNREFUSED: "ECONNREFUSED"
        case EHOSTUNREACH: "EHOSTUNREACH"
        case ENETUNREACH: "ENETUNREACH"
        case EHOSTDOWN: "EHOSTDOWN"
        case ETIMEDOUT: "ETIMEDOUT"
        case EADDRNOTAVAIL: "EADDRNOTAVAIL"
        case ECONNRESET: "ECONNRESET"
        default: "errno\(code)"
        }
    }
}
