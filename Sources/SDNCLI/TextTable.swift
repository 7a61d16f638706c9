import Foundation

/// Columns aligned with two spaces between them, for the client commands' listings.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    /// The table, one line per row after the header line; the last column is not padded.
    func render() -> String {
        let all = [headers] + rows
        let widths = headers.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[column] - cell.count))
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// How the client commands print dates and optional values.
enum ClientFormat {
    static func date(_ date: Foundation.Date?) -> String {
        guard let date else { return "-" }
        return date.formatted(.iso8601)
    }

    static func revision(_ number: Int64?) -> String {
        number.map(String.init) ?? "-"
    }
}
