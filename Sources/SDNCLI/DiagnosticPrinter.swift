import SDNConfig
import SDNModel

/// Prints diagnostics the way compilers do: `file:line:col: error: message`, the source line with a caret
/// under the column, then the hint.
struct DiagnosticPrinter {
    let style: Style
    /// File texts by path, for source excerpts.
    let sources: [String: [Substring]]

    init(style: Style, documents: [ConfigDocument]) {
        self.style = style
        var sources: [String: [Substring]] = [:]
        for document in documents {
            sources[document.path] = document.text.split(separator: "\n", omittingEmptySubsequences: false)
        }
        self.sources = sources
    }

    func render(_ diagnostic: Diagnostic) -> String {
        let label: String = switch diagnostic.severity {
        case .error: style.red("error")
        case .warning: style.yellow("warning")
        case .note: style.cyan("note")
        }
        var text = ""
        if let location = diagnostic.location { text += style.bold("\(location):") + " " }
        text += "\(label): \(style.bold(diagnostic.message))"
        if !diagnostic.path.isEmpty { text += style.dim(" [\(diagnostic.path)]") }
        text += style.dim(" (\(diagnostic.code))")
        if let location = diagnostic.location, let lines = sources[location.file], location.line >= 1, location.line <= lines.count {
            let line = lines[location.line - 1]
            let number = String(location.line)
            let gutter = String(repeating: " ", count: number.count)
            let caretOffset = max(0, min(location.column - 1, line.unicodeScalars.count))
            let prefix = line.unicodeScalars.prefix(caretOffset).map { $0 == "\t" ? "\t" : " " }.joined()
            text += "\n \(style.dim(number + " |")) \(line)"
            text += "\n \(style.dim(gutter + " |")) \(String(prefix))\(style.green("^"))"
        }
        if let hint = diagnostic.hint { text += "\n  " + style.cyan("hint:") + " \(hint)" }
        for place in diagnostic.related { text += "\n  " + style.dim("see also: \(place)") }
        return text
    }

    static func json(_ diagnostic: Diagnostic) -> RenderedTree {
        var fields: [(String, RenderedTree)] = [
            ("severity", .string(diagnostic.severity.rawValue)),
            ("code", .string(diagnostic.code)),
            ("message", .string(diagnostic.message)),
        ]
        if let location = diagnostic.location {
            fields += [("file", .string(location.file)), ("line", .integer(location.line)), ("column", .integer(location.column))]
        }
        fields.append(("path", .string(diagnostic.path)))
        if let hint = diagnostic.hint { fields.append(("hint", .string(hint))) }
        fields.append(("related", .list(diagnostic.related.map { .string($0.description) })))
        return .map(fields)
    }
}
