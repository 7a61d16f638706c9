import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
public import SDNModel

/// What `sdn` reads from a libvirt domain's XML: who it is and how its NICs are wired.
public struct DomainDescription: Sendable, Hashable {
    /// Where the vmid came from.
    public enum VMIDSource: String, Sendable, Hashable {
        /// `<metadata><sdn:guest xmlns:sdn='https://sdn.dev/guest' vmid='101'/></metadata>`.
        case metadata
        /// The domain's name: `101`, `vm101` or `vm-101`.
        case name
    }

    public var name: String
    /// The UUID as libvirt prints it (lower-case, with dashes).
    public var uuid: String
    /// The guest id `sdn` knows the domain by, if the metadata or the name carries one.
    public var vmid: Int?
    public var vmidSource: VMIDSource?
    /// The domain type: `kvm`, `qemu`, …
    public var type: String
    /// The `<interface>` elements under `<devices>`, in document order (which is the guest's NIC order).
    public var interfaces: [DomainInterface]

    public init(name: String, uuid: String, vmid: Int? = nil, vmidSource: VMIDSource? = nil, type: String = "kvm", interfaces: [DomainInterface] = []) {
        self.name = name
        self.uuid = uuid
        self.vmid = vmid
        self.vmidSource = vmidSource
        self.type = type
        self.interfaces = interfaces
    }

    /// The XML namespace of `sdn`'s domain metadata.
    public static let metadataNamespace = "https://sdn.dev/guest"

    /// Parses a domain's XML (`virsh dumpxml` or `virDomainGetXMLDesc`).
    /// - Parameter source: where the XML came from, for error messages (a file path or a domain name).
    /// - Throws: ``DomainXMLError`` when the XML is malformed or is not a `<domain>` with a name.
    public init(xml: String, source: String = "domain XML") throws(DomainXMLError) {
        let document = try Self.parse(xml, source: source)
        guard let root = document.rootElement(), root.name == "domain" else {
            throw DomainXMLError(source: source, message: "the root element is not <domain>")
        }
        guard let name = root.child("name")?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
            throw DomainXMLError(source: source, message: "<domain> has no <name>")
        }
        self.name = name
        uuid = root.child("uuid")?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() ?? ""
        type = root.attribute("type") ?? ""
        if let id = Self.metadataVMID(root) {
            vmid = id
            vmidSource = .metadata
        } else if let id = Self.vmid(fromName: name) {
            vmid = id
            vmidSource = .name
        }
        let interfaceElements = root.child("devices")?.children(named: "interface") ?? []
        interfaces = interfaceElements.enumerated().map { DomainInterface(element: $1, position: $0) }
    }

    /// The XML as a document, refusing what is not well-formed: FoundationXML's parsers recover from
    /// errors (an unclosed element is closed at the end, and `parse()` still succeeds), so the
    /// elements are counted open and closed as the SAX parser reports them.
    static func parse(_ xml: String, source: String) throws(DomainXMLError) -> XMLDocument {
        let checker = XMLParser(data: Data(xml.utf8))
        let balance = ElementBalance()
        checker.delegate = balance
        let parsed = checker.parse()
        if !parsed || balance.error != nil || balance.depth != 0 || balance.roots != 1 {
            let reason = balance.error ?? checker.parserError.map { ($0 as NSError).localizedDescription }
                ?? (balance.roots == 1 ? "an element is not closed" : "not one root element")
            throw DomainXMLError(source: source, message: "not well-formed XML: \(reason)")
        }
        do {
            return try XMLDocument(xmlString: xml, options: [])
        } catch {
            throw DomainXMLError(source: source, message: "not well-formed XML: \((error as NSError).localizedDescription)")
        }
    }

    /// `101`, `vm101`, `vm-101` (any case) → 101, when it is a valid guest id.
    public static func vmid(fromName name: String) -> Int? {
        var digits = Substring(name)
        if digits.lowercased().hasPrefix("vm-") {
            digits = digits.dropFirst(3)
        } else if digits.lowercased().hasPrefix("vm") {
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "0",
              let id = Int(digits), Guest.validIDs.contains(id) else { return nil }
        return id
    }

    /// The `vmid` attribute of `<sdn:guest>` in `<metadata>`, found by namespace URI, not by prefix.
    private static func metadataVMID(_ root: XMLElement) -> Int? {
        guard let metadata = root.child("metadata") else { return nil }
        for case let element as XMLElement in metadata.children ?? [] {
            let namespace = element.uri ?? element.resolveNamespace(forName: element.name ?? "")?.stringValue
            guard element.localName == "guest", namespace == metadataNamespace,
                  let text = element.attribute("vmid"), let id = Int(text), Guest.validIDs.contains(id) else { continue }
            return id
        }
        return nil
    }
}

/// One `<interface>` of a domain.
public struct DomainInterface: Sendable, Hashable {
    /// Its position among the domain's interfaces (0-based).
    public var position: Int
    /// `bridge`, `ethernet`, `network`, `direct`, `user`, …
    public var type: String
    public var mac: MACAddress?
    /// `<source bridge=…>` (type bridge).
    public var sourceBridge: String?
    /// `<source network=…>` (type network).
    public var sourceNetwork: String?
    /// `<source dev=…>` (type direct: the host device macvtap sits on).
    public var sourceDevice: String?
    /// `<target dev=…>`: the host-side device (a tap).
    public var targetDevice: String?
    /// `<target managed=…>`: `false` when libvirt uses a tap someone else made.
    public var targetManaged: Bool?
    /// `<model type=…>`: `virtio`, `e1000`, …
    public var model: String?
    /// `<vlan><tag id=…/>` ids (one for an access port, several for a trunk).
    public var vlanTags: [Int]
    /// `<mtu size=…>`.
    public var mtu: Int?
    /// `<alias name=…>` (live XML only): what device events name the NIC by.
    public var alias: String?

    public init(position: Int, type: String, mac: MACAddress? = nil, sourceBridge: String? = nil, sourceNetwork: String? = nil,
                sourceDevice: String? = nil, targetDevice: String? = nil, targetManaged: Bool? = nil, model: String? = nil,
                vlanTags: [Int] = [], mtu: Int? = nil, alias: String? = nil) {
        self.position = position
        self.type = type
        self.mac = mac
        self.sourceBridge = sourceBridge
        self.sourceNetwork = sourceNetwork
        self.sourceDevice = sourceDevice
        self.targetDevice = targetDevice
        self.targetManaged = targetManaged
        self.model = model
        self.vlanTags = vlanTags
        self.mtu = mtu
        self.alias = alias
    }

    init(element: XMLElement, position: Int) {
        let source = element.child("source")
        let target = element.child("target")
        self.init(
            position: position,
            type: element.attribute("type") ?? "",
            mac: element.child("mac")?.attribute("address").flatMap { try? MACAddress($0) },
            sourceBridge: source?.attribute("bridge"),
            sourceNetwork: source?.attribute("network"),
            sourceDevice: source?.attribute("dev"),
            targetDevice: target?.attribute("dev"),
            targetManaged: target?.attribute("managed").map { $0 == "yes" },
            model: element.child("model")?.attribute("type"),
            vlanTags: element.child("vlan")?.children(named: "tag").compactMap { $0.attribute("id").flatMap { Int($0) } } ?? [],
            mtu: element.child("mtu")?.attribute("size").flatMap { Int($0) },
            alias: element.child("alias")?.attribute("name")
        )
    }

    /// How the interface is named in messages: `interface 0 (bridge vmbr0, 52:54:00:00:01:01)`.
    public var summary: String {
        var parts = [type.isEmpty ? "no type" : type]
        if let sourceBridge { parts[0] += " " + sourceBridge }
        if let sourceNetwork { parts[0] += " " + sourceNetwork }
        if let sourceDevice { parts[0] += " " + sourceDevice }
        if let mac { parts.append(mac.description) }
        return "interface \(position) (\(parts.joined(separator: ", ")))"
    }
}

/// Domain XML that cannot be read.
public struct DomainXMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A file path or a domain name.
    public var source: String
    public var message: String

    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}

extension XMLElement {
    func child(_ name: String) -> XMLElement? { elements(forName: name).first }
    func children(named name: String) -> [XMLElement] { elements(forName: name) }
    func attribute(_ name: String) -> String? { attribute(forName: name)?.stringValue }
}

/// Counts what the SAX parser opens and closes (see ``DomainDescription/parse(_:source:)``).
private final class ElementBalance: NSObject, XMLParserDelegate {
    var depth = 0
    var roots = 0
    var error: String?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if depth == 0 { roots += 1 }
        depth += 1
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        depth -= 1
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        if error == nil { error = "line \(parser.lineNumber): \((parseError as NSError).localizedDescription)" }
    }
}
