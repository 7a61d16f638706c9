import ArgumentParser
import Foundation

/// Which daemon a client command talks to, and as whom.
struct DaemonOptions: ParsableArguments {
    @Option(help: ArgumentHelp("sdnd's address: unix:///path/to/sdnd.sock, https://host:port or http://host:port (default: $SDN_SERVER; without either, plan and apply act locally, the other client commands use \(ServerAddress.defaultURL)).",
                               valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("API token, sent as Authorization: Bearer (default: $SDN_TOKEN). The Unix socket needs none.", valueName: "secret"))
    var token: String?

    @Option(help: ArgumentHelp("The SHA-256 fingerprint of the https:// server's certificate, as sdnd prints it at start (default: $SDN_SERVER_FINGERPRINT). Without it, the certificate must verify against the system's CAs.",
                               valueName: "sha256"))
    var fingerprint: String?

    /// `--server`, else `SDN_SERVER` (an empty variable counts as unset).
    var explicitServer: String? {
        if let server { return server }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SDN_SERVER"], !fromEnvironment.isEmpty { return fromEnvironment }
        return nil
    }

    var resolvedToken: String? {
        if let token { return token }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SDN_TOKEN"], !fromEnvironment.isEmpty { return fromEnvironment }
        return nil
    }

    /// `--fingerprint`, else `SDN_SERVER_FINGERPRINT` (which only https:// servers read: it may stay set
    /// while other commands use the Unix socket).
    var resolvedFingerprint: (text: String, explicit: Bool)? {
        if let fingerprint { return (fingerprint, true) }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SDN_SERVER_FINGERPRINT"], !fromEnvironment.isEmpty { return (fromEnvironment, false) }
        return nil
    }

    /// The session for the explicit server, else the node's own socket.
    func session(output: OutputFormat) throws -> DaemonSession {
        try DaemonSession(url: explicitServer ?? ServerAddress.defaultURL, token: resolvedToken, fingerprint: resolvedFingerprint, output: output)
    }
}

/// Output and daemon options of the commands that only exist as clients.
struct ClientOptions: ParsableArguments {
    @OptionGroup var daemon: DaemonOptions

    @Option(name: [.short, .long], help: "Output for people (text) or programs (json: the daemon's response, pretty-printed).")
    var output: OutputFormat = .text

    func session() throws -> DaemonSession { try daemon.session(output: output) }
}

/// Arguments that parse but do not make sense together: said on standard error, exit status 2 (as the
/// local commands do), not ArgumentParser's usage error.
func argumentError(_ message: String) -> ExitCode {
    printError("sdn: " + message)
    return .badInput
}
