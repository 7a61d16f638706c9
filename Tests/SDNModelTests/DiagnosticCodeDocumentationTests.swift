import Foundation
import SDNModel
import Testing

/// Every diagnostic code the package declares is documented, and every documented code exists.
///
/// Codes are static members of `DiagnosticCode` declared in `Sources/<module>/DiagnosticCode*.swift` (static
/// members cannot be enumerated at run time, so the declarations are read from the source). The importer's
/// codes are documented in docs/import-proxmox.md, all others in docs/schema.md.
@Suite struct DiagnosticCodeDocumentationTests {
    struct Declaration: Hashable {
        var module: String
        var member: String
        var code: String
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// Every Swift file under Sources/, as (module, file name, text).
    static func sourceFiles() throws -> [(module: String, file: String, text: String)] {
        let sources = root.appendingPathComponent("Sources")
        var files: [(String, String, String)] = []
        for module in try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted() {
            guard let enumerator = FileManager.default.enumerator(atPath: sources.appendingPathComponent(module).path) else { continue }
            for case let file as String in enumerator where file.hasSuffix(".swift") {
                files.append((module, file, try read("Sources/\(module)/\(file)")))
            }
        }
        return files
    }

    static func declarations() throws -> [Declaration] {
        let pattern = try NSRegularExpression(pattern: #"static let (\w+) = DiagnosticCode\("([^"]*)"\)"#)
        var found: [Declaration] = []
        for (module, _, text) in try sourceFiles() {
            let range = NSRange(text.startIndex..., in: text)
            for match in pattern.matches(in: text, range: range) {
                found.append(Declaration(module: module, member: String(text[Range(match.range(at: 1), in: text)!]),
                                         code: String(text[Range(match.range(at: 2), in: text)!])))
            }
        }
        return found
    }

    /// The codes in the first column of the document's diagnostic tables (rows like "| `code` | error | …").
    static func documentedCodes(in relativePath: String) throws -> Set<String> {
        let row = try NSRegularExpression(pattern: #"^\| `([a-z0-9-]+)` \| (error|warning|note) \|"#, options: .anchorsMatchLines)
        let text = try read(relativePath)
        return Set(row.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range(at: 1), in: text)!]) })
    }

    @Test func codesAreMadeOnlyInTheDeclarationFiles() throws {
        // A code minted anywhere else would escape the documentation check below.
        let elsewhere = try Self.sourceFiles().filter { !$0.file.hasPrefix("DiagnosticCode") && $0.text.contains("DiagnosticCode(\"") }
        #expect(elsewhere.map { "\($0.module)/\($0.file)" } == [])
        #expect(try Self.declarations().count > 100, "the declarations were not found; did the files move?")
    }

    @Test func memberNamesSpellTheirCodes() throws {
        for declaration in try Self.declarations() {
            let words = declaration.code.split(separator: "-")
            let camelCase = String(words[0]) + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
            #expect(declaration.member == camelCase, "\(declaration.module): \(declaration.member) is \"\(declaration.code)\"")
        }
        let codes = try Self.declarations().map(\.code)
        #expect(codes.count == Set(codes).count, "a code is declared twice")
    }

    @Test func everyCodeIsDocumentedAndEveryDocumentedCodeExists() throws {
        let declarations = try Self.declarations()
        let importer = Set(declarations.filter { $0.module == "SDNProxmoxImport" }.map(\.code))
        let libvirt = Set(declarations.filter { $0.module == "SDNGuests" }.map(\.code))
        let others = Set(declarations.filter { !["SDNProxmoxImport", "SDNGuests"].contains($0.module) }.map(\.code))
        let schema = try Self.documentedCodes(in: "docs/schema.md")
        let importDocs = try Self.documentedCodes(in: "docs/import-proxmox.md")
        let libvirtDocs = try Self.documentedCodes(in: "docs/import-libvirt.md")

        #expect(others.subtracting(schema).sorted() == [], "declared but not in docs/schema.md")
        #expect(schema.subtracting(others).sorted() == [], "in docs/schema.md but not declared")
        #expect(importer.subtracting(importDocs).sorted() == [], "declared but not in docs/import-proxmox.md")
        #expect(importDocs.subtracting(importer).sorted() == [], "in docs/import-proxmox.md but not declared")
        #expect(libvirt.subtracting(libvirtDocs).sorted() == [], "declared but not in docs/import-libvirt.md")
        #expect(libvirtDocs.subtracting(libvirt).sorted() == [], "in docs/import-libvirt.md but not declared")
    }

    @Test func aCodePrintsAndEncodesAsItsString() throws {
        let diagnostic = Diagnostic.error(.duplicateName, "twice", at: nil, path: "vnets.web")
        #expect(diagnostic.description == "error: twice [vnets.web] (duplicate-name)")
        let json = String(decoding: try JSONEncoder().encode(DiagnosticCode.duplicateName), as: UTF8.self)
        #expect(json == #""duplicate-name""#)
        #expect(try JSONDecoder().decode(DiagnosticCode.self, from: Data(json.utf8)) == .duplicateName)
    }
}
