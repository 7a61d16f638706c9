import ArgumentParser
import Foundation

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

enum ColorMode: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never

    /// Colour on a terminal, unless NO_COLOR is set (https://no-color.org).
    var isEnabled: Bool {
        switch self {
        case .always: true
        case .never: false
        case .auto: isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        }
    }
}

struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Output for people (text) or programs (json).")
    var output: OutputFormat = .text

    @Option(help: "Colour the text output: auto (on a terminal), always or never.")
    var color: ColorMode = .auto
}

/// ANSI styling that disappears when colour is off.
struct Style {
    let enabled: Bool
    func apply(_ code: String, _ text: String) -> String { enabled ? "\u{1b}[\(code)m\(text)\u{1b}[0m" : text }
    func bold(_ text: String) -> String { apply("1", text) }
    func red(_ text: String) -> String { apply("1;31", text) }
    func yellow(_ text: String) -> String { apply("1;33", text) }
    func cyan(_ text: String) -> String { apply("36", text) }
    func green(_ text: String) -> String { apply("32", text) }
    func dim(_ text: String) -> String { apply("2", text) }
}

/// Writes to standard error (diagnostics of commands whose standard output is data).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
