import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
public import SDNModel

/// `sdn guest adopt`: a domain's `type='bridge'` interfaces rewritten to `type='ethernet'` on the taps
/// `sdnd` prepares (`<target dev='tap<vmid>i<n>' managed='no'/>`), everything else about each NIC
/// kept (MAC, model, driver, PCI address, boot order, …) and the rest of the XML untouched.
public struct DomainAdoption: Sendable {
    /// One interface the rewrite changed.
    public struct Change: Sendable, Hashable {
        /// The interface's position among the domain's interfaces.
        public var position: Int
        /// The guest NIC it now is (`netN`).
        public var nicIndex: Int
        /// The tap it now uses.
        public var tap: String
        /// How the interface was matched to the NIC: `mac` or `order`.
        public var matchedBy: String
        /// Elements of the old interface that do not apply to a tap `sdnd` owns, dropped with a reason.
        public var dropped: [String]
    }

    /// The domain's new XML (to define).
    public var xml: String
    public var changes: [Change]
    /// Interfaces left as they are, each with why (already adopted, another type).
    public var unchanged: [String]
    /// A unified diff (no context lines) from the old XML to the new.
    public var diff: String

    /// Rewrites `xml` (a domain's persistent definition) for `guest`.
    ///
    /// Each `type='bridge'` interface is matched to a declared NIC by MAC; those left over are matched
    /// in order to the declared NICs that name no MAC. `type='ethernet'` interfaces already on the
    /// guest's taps count as matched.
    /// - Throws: ``GuestXMLError`` when the XML cannot be read or an interface matches no NIC.
    public static func rewrite(xml: String, domainName: String, guest: Guest, state: DesiredState) throws(GuestXMLError) -> DomainAdoption {
        let document: XMLDocument
        do {
            document = try DomainDescription.parse(xml, source: "domain \(domainName)")
        } catch {
            throw GuestXMLError(message: error.description)
        }
        let elements = document.rootElement()?.elements(forName: "devices").first?.elements(forName: "interface") ?? []
        guard let spans = InterfaceSpans.find(in: xml), spans.count == elements.count else {
            throw GuestXMLError(message: "domain \(domainName): cannot locate its <interface> elements in the XML text",
                                hint: "give the XML as `virsh dumpxml --inactive` prints it")
        }
        let interfaces = elements.enumerated().map { DomainInterface(element: $1, position: $0) }

        // Match: already-adopted taps and MACs first, then the rest in order.
        var nicFor: [Int: (nic: GuestNIC, by: String)] = [:]
        var taken = Set<Int>()
        var unchanged: [String] = []
        for interface in interfaces where interface.type == "ethernet" {
            if let nic = guest.nics.first(where: { GuestInterfaceXML.tapName(of: $0, guestID: guest.id) == interface.targetDevice }) {
                taken.insert(nic.index)
                unchanged.append("\(interface.summary): already on \(interface.targetDevice!)")
            }
        }
        let bridged = interfaces.filter { $0.type == "bridge" }
        for interface in bridged {
            guard let mac = interface.mac, let nic = guest.nics.first(where: { $0.mac == mac && !taken.contains($0.index) }) else { continue }
            nicFor[interface.position] = (nic, "mac")
            taken.insert(nic.index)
        }
        var withoutMAC = guest.nics.filter { $0.mac == nil && !taken.contains($0.index) }.makeIterator()
        var unmatched: [DomainInterface] = []
        for interface in bridged where nicFor[interface.position] == nil {
            guard let nic = withoutMAC.next() else {
                unmatched.append(interface)
                continue
            }
            nicFor[interface.position] = (nic, "order")
            taken.insert(nic.index)
        }
        if !unmatched.isEmpty {
            let declared = guest.nics.map { "net\($0.index)" + ($0.mac.map { " \($0)" } ?? " (no MAC)") }.joined(separator: ", ")
            throw GuestXMLError(
                message: "domain \(domainName): \(unmatched.map(\.summary).joined(separator: "; ")) "
                    + (unmatched.count == 1 ? "matches" : "match") + " no NIC of guest \(guest.id) (\(declared.isEmpty ? "it declares none" : declared))",
                hint: "declare the NIC with its MAC in Topologies/, or remove the interface from the domain"
            )
        }
        for interface in interfaces where interface.type != "bridge" && interface.type != "ethernet" {
            unchanged.append("\(interface.summary): type '\(interface.type)' is left as it is (only bridge interfaces are adopted)")
        }

        var output = ""
        var diff = ""
        var cursor = xml.startIndex
        var lineDelta = 0
        var changes: [Change] = []
        for (position, (span, element)) in zip(spans, elements).enumerated() {
            let interface = interfaces[position]
            guard let (nic, matchedBy) = nicFor[interface.position] else { continue }
            var rewritten = LibvirtXMLElement(element)
            var dropped: [String] = []
            rewritten.attributes = rewritten.attributes.map { $0.name == "type" ? ("type", "ethernet") : $0 }
            var children: [LibvirtXMLElement] = []
            var placedTarget = false
            for child in rewritten.children {
                switch child.name {
                case "source", "target":
                    if !placedTarget { children.append(GuestInterfaceXML.target(for: nic, guestID: guest.id)); placedTarget = true }
                case "virtualport":
                    dropped.append("<virtualport>: an Open vSwitch or 802.1Qbh port; the tap sits on sdn's Linux bridge")
                case "vlan":
                    dropped.append("<vlan>: sdnd puts the tap in its VLAN (the NIC's tag or trunks in Topologies/)")
                case "filterref":
                    dropped.append("<filterref>: libvirt's nwfilter; sdn's firewall filters the tap")
                default:
                    children.append(child)
                }
            }
            if !placedTarget {
                let afterMAC = (children.firstIndex { $0.name == "mac" }).map { $0 + 1 } ?? 0
                children.insert(GuestInterfaceXML.target(for: nic, guestID: guest.id), at: afterMAC)
            }
            if !children.contains(where: { $0.name == "mtu" }), let mtu = GuestInterfaceXML.mtu(of: nic, in: state) {
                children.append(LibvirtXMLElement(name: "mtu", attributes: [("size", String(mtu))]))
            }
            rewritten.children = children

            let oldLines = String(xml[span.range]).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let newLines = rewritten.lines(indent: span.indent)
            output += xml[cursor..<span.range.lowerBound] + newLines.joined(separator: "\n")
            cursor = span.range.upperBound
            diff += "@@ -\(span.line),\(oldLines.count) +\(span.line + lineDelta),\(newLines.count) @@\n"
            diff += oldLines.map { "-" + $0 + "\n" }.joined() + newLines.map { "+" + $0 + "\n" }.joined()
            lineDelta += newLines.count - oldLines.count
            changes.append(Change(position: interface.position, nicIndex: nic.index, tap: GuestInterfaceXML.tapName(of: nic, guestID: guest.id),
                                  matchedBy: matchedBy, dropped: dropped))
        }
        output += xml[cursor...]
        if !diff.isEmpty { diff = "--- domain \(domainName) (defined)\n+++ domain \(domainName) (adopted by sdn)\n" + diff }
        return DomainAdoption(xml: output, changes: changes, unchanged: unchanged, diff: diff)
    }
}
