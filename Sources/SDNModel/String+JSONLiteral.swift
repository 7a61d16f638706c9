extension String {
    /// The string as a JSON string literal, quotes included (RFC 8259: `"` and `\` escaped, control
    /// characters as their short escapes or `\u00XX`). Also a valid double-quoted YAML scalar, which
    /// is why the configuration writers use it too: one escaper for nft's JSON, the API and YAML.
    public var jsonLiteral: String {
        var output = ""
        appendJSONLiteral(to: &output)
        return output
    }

    /// Appends ``jsonLiteral`` to `output` without building an intermediate string.
    public func appendJSONLiteral(to output: inout String) {
        output += "\""
        for scalar in unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}
