import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An element of domain XML as a value, written back the way libvirt formats its own XML (two-space
/// indentation, single-quoted attributes, `<empty/>` elements), so a rewritten `<interface>` reads
/// like the ones around it and a diff shows only what changed.
struct LibvirtXMLElement: Hashable {
    var name: String
    var attributes: [(name: String, value: String)]
    var children: [LibvirtXMLElement]
    /// Text content of an element without children.
    var text: String?

    init(name: String, attributes: [(name: String, value: String)] = [], children: [LibvirtXMLElement] = [], text: String? = nil) {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    init(_ element: XMLElement) {
        name = element.name ?? ""
        attributes = (element.attributes ?? []).map { ($0.name ?? "", $0.stringValue ?? "") }
        children = (element.children ?? []).compactMap { $0 as? XMLElement }.map(LibvirtXMLElement.init)
        let text = element.children?.filter { $0.kind == .text }.compactMap(\.stringValue).joined()
            .trimmingCharacters(in: .whitespacesAndNewlines)
        self.text = children.isEmpty && !(text ?? "").isEmpty ? text : nil
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.attributes.map(\.name) == rhs.attributes.map(\.name)
            && lhs.attributes.map(\.value) == rhs.attributes.map(\.value) && lhs.children == rhs.children && lhs.text == rhs.text
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        for attribute in attributes { hasher.combine(attribute.name); hasher.combine(attribute.value) }
        hasher.combine(children)
        hasher.combine(text)
    }

    func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }

    func child(_ name: String) -> LibvirtXMLElement? { children.first { $0.name == name } }

    /// The element's lines, the first at `indent`.
    func lines(indent: String = "") -> [String] {
        let open = "<" + name + attributes.map { " \($0.name)='\(Self.escape($0.value, quote: true))'" }.joined()
        if children.isEmpty {
            if let text { return [indent + open + ">" + Self.escape(text, quote: false) + "</\(name)>"] }
            return [indent + open + "/>"]
        }
        return [indent + open + ">"] + children.flatMap { $0.lines(indent: indent + "  ") } + [indent + "</\(name)>"]
    }

    static func escape(_ text: String, quote: Bool) -> String {
        var escaped = text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        if quote { escaped = escaped.replacingOccurrences(of: "'", with: "&apos;") } else { escaped = escaped.replacingOccurrences(of: ">", with: "&gt;") }
        return escaped
    }
}

/// Where the `<interface>` elements of a domain's `<devices>` are in its XML text, so one can be
/// replaced without reformatting the rest of the document (libvirt's other elements, comments and
/// metadata stay byte for byte).
enum InterfaceSpans {
    struct Span {
        /// From the start of the element's line (its indentation) to the end of its closing tag.
        var range: Range<String.Index>
        /// The whitespace before the element on its line.
        var indent: String
        /// 1-based line of the element's start tag.
        var line: Int
    }

    /// The spans in document order; nil when the text has no `<devices>` element.
    static func find(in xml: String) -> [Span]? {
        guard let devicesStart = xml.range(of: "<devices>") ?? xml.range(of: "<devices "),
              let devicesEnd = xml.range(of: "</devices>", range: devicesStart.upperBound..<xml.endIndex) else { return nil }
        var spans: [Span] = []
        var cursor = devicesStart.upperBound
        while let start = xml.range(of: "<interface", range: cursor..<devicesEnd.lowerBound) {
            guard start.upperBound < xml.endIndex, [" ", ">", "/", "\n", "\t"].contains(xml[start.upperBound]) else {
                cursor = start.upperBound
                continue
            }
            // The end of the start tag: the first '>' outside quotes.
            var index = start.upperBound
            var quote: Character?
            while index < devicesEnd.lowerBound {
                let character = xml[index]
                if let open = quote {
                    if character == open { quote = nil }
                } else if character == "'" || character == "\"" {
                    quote = character
                } else if character == ">" {
                    break
                }
                index = xml.index(after: index)
            }
            guard index < devicesEnd.lowerBound else { return spans }
            let selfClosing = xml[xml.index(before: index)] == "/"
            var end = xml.index(after: index)
            if !selfClosing {
                guard let closing = xml.range(of: "</interface>", range: end..<devicesEnd.lowerBound) else { return spans }
                end = closing.upperBound
            }
            let lineStart = xml[..<start.lowerBound].lastIndex(of: "\n").map { xml.index(after: $0) } ?? xml.startIndex
            let before = xml[lineStart..<start.lowerBound]
            let indentOnly = before.allSatisfy { $0 == " " || $0 == "\t" }
            let line = xml[..<start.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
            spans.append(Span(range: (indentOnly ? lineStart : start.lowerBound)..<end, indent: indentOnly ? String(before) : "", line: line))
            cursor = end
        }
        return spans
    }
}
