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
            sources[document.path] = ConfigDocument.lines(of: document.text)
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
            let (line, caretOffset) = Self.excerpt(of: lines[location.line - 1], column: location.column)
            let number = String(location.line)
            let gutter = String(repeating: " ", count: number.count)
            let prefix = line.unicodeScalars.prefix(caretOffset).map { $0 == "\t" ? "\t" : " " }.joined()
            text += "\n \(style.dim(number + " |")) \(line)"
            text += "\n \(style.dim(gutter + " |")) \(String(prefix))\(style.green("^"))"
        }
        if let hint = diagnostic.hint { text += "\n  " + style.cyan("hint:") + " \(hint)" }
        for place in diagnostic.related { text += "\n  " + style.dim("see also: \(place)") }
        return text
    }

    /// The longest source line shown whole; a longer one is cut to a window around the column.
    static let excerptWidth = 160

    /// The part of `line` to show and where the caret goes in it (both in Unicode scalars).
    static func excerpt(of line: Substring, column: Int) -> (text: String, caret: Int) {
        let scalars = Array(line.unicodeScalars)
        let caret = max(0, min(column - 1, scalars.count))
        guard scalars.count > excerptWidth else { return (String(line), caret) }
        let start = max(0, min(caret - excerptWidth / 2, scalars.count - excerptWidth))
        let end = min(scalars.count, start + excerptWidth)
        let head = start > 0 ? "…" : "", tail = end < scalars.count ? "…" : ""
        return (head + String(String.UnicodeScalarView(scalars[start..<end])) + tail, caret - start + (start > 0 ? 1 : 0))
    }

    static func json(_ diagnostic: Diagnostic) -> RenderedTree {
        var fields: [(String, RenderedTree)] = [
            ("severity", .string(diagnostic.severity.rawValue)),
            ("code", .string(diagnostic.code.description)),
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
