import ArgumentParser
import Foundation
import SDNConfig
import SDNGuests
import SDNModel

/// `sdn import libvirt`: existing libvirt domains → guest entries for `Topologies/`.
struct ImportLibvirtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt",
        abstract: "Import libvirt domains as guests (vmid, MACs, bridges mapped to vnets).",
        discussion: """
            Reads every domain of --uri (default qemu:///system), or the domain XML files given with --xml. Each domain \
            becomes a KVM guest: its vmid from <sdn:guest vmid=…> metadata or a name like 101, vm101 or vm-101; each \
            interface becomes net<position> with its MAC, its bridge mapped to the vnet of the same name or by --map. \
            Every interface that cannot be mapped (network, direct or user types, an unknown bridge, a domain without \
            vmid) gets one diagnostic on stderr and is left out. The configuration (--config, by default Topologies/ \
            and Policies/ when present) supplies the vnets, and the result is validated with it.
            Exit status: 0 imported; 1 a --map or a vmid is wrong, the result does not validate, or --check and an \
            interface was left out; 2 the input could not be read.
            """
    )

    @Option(help: "libvirt connection URI.")
    var uri: String?

    @Option(help: ArgumentHelp("A domain XML file to import instead of asking libvirt (repeatable).", valueName: "file"))
    var xml: [String] = []

    @Option(help: ArgumentHelp("Map a bridge to a vnet (repeatable).", valueName: "bridge=vnet"))
    var map: [String] = []

    @Option(help: "The node the guests run on (default: the configuration's only node, else this host's name).")
    var node: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("A YAML file or directory with the vnets (repeatable).", valueName: "path"))
    var configPaths: [String] = []

    @Option(name: .shortAndLong, help: "Write the guests to this file instead of standard output.")
    var output: String?

    @Flag(help: "Exit with status 1 if any interface was left out.")
    var check = false

    func validate() throws {
        if uri != nil && !xml.isEmpty { throw ValidationError("give --uri or --xml, not both") }
    }

    func run() throws {
        let documents = try configDocuments()
        var state: DesiredState?
        if !documents.isEmpty {
            state = try GuestConfiguration.load(configPaths)
        }
        let (maps, mapDiagnostics) = LibvirtImport.parseMaps(map, vnetNames: state.map { Set($0.vnets.map(\.name)) })

        let sources: [LibvirtImport.Source]
        let origin: String
        if xml.isEmpty {
            let target = uri ?? "qemu:///system"
            origin = target
            do {
                sources = try LibvirtConnection(uri: target).domains().map { LibvirtImport.Source(domain: $0) }
            } catch {
                printError("sdn: \(error)")
                throw ExitCode.failed
            }
        } else {
            origin = xml.count == 1 ? xml[0] : "\(xml.count) XML files"
            var read: [LibvirtImport.Source] = []
            for file in xml {
                guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                    printError("sdn: \(file): cannot read the file")
                    throw ExitCode.badInput
                }
                do {
                    read.append(LibvirtImport.Source(domain: try DomainDescription(xml: text, source: file), file: file, xml: text))
                } catch {
                    printError("sdn: \(error.description)")
                    throw ExitCode.badInput
                }
            }
            sources = read
        }

        let nodeName = node ?? defaultNode(state)
        let result = LibvirtImport(sources, node: nodeName, vnets: state?.vnets ?? [], maps: maps, origin: origin)
        let diagnostics = mapDiagnostics + result.diagnostics
        for diagnostic in diagnostics { printError(diagnostic.description) }

        if let output {
            do {
                try result.yaml.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                printError("sdn: cannot write \(output): \(error.localizedDescription)")
                throw ExitCode.badInput
            }
            printError("wrote \(result.guests.count) guest\(result.guests.count == 1 ? "" : "s") to \(output)")
        } else {
            print(result.yaml, terminator: "")
        }

        var validates = true
        if !documents.isEmpty {
            // Together with the configuration: the vnets exist, the vmids and MACs are new.
            let imported = ConfigDocument(path: "Topologies/imported-libvirt.yaml", text: result.yaml, kind: .topology)
            let (validated, validation) = ConfigLoader.loadAndValidate(documents + [imported])
            for diagnostic in validation where diagnostic.severity == .error { printError(diagnostic.description) }
            validates = validated != nil
            printError(validates ? "the imported guests validate with the configuration" : "the imported guests do not validate with the configuration")
        } else {
            printError("note: no configuration read (no Topologies/ here and no --config): only --map names vnets, and the result is not validated")
        }
        let leftOut = result.diagnostics.contains { $0.severity == .warning && $0.code != .libvirtMissingMac }
        if diagnostics.hasErrors || !validates || (check && leftOut) { throw ExitCode.failed }
    }

    private func configDocuments() throws -> [ConfigDocument] {
        if !configPaths.isEmpty { return try InputCollector.collectOrExit(configPaths) }
        let present = ConfigInputOptions.defaultDirectories.filter { FileManager.default.fileExists(atPath: $0) }
        return present.isEmpty ? [] : try InputCollector.collectOrExit(present)
    }

    private func defaultNode(_ state: DesiredState?) -> String {
        if let nodes = state?.nodes, nodes.count == 1 { return nodes[0].name }
        var buffer = [CChar](repeating: 0, count: 256)
        let name = gethostname(&buffer, buffer.count) == 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        let short = name.split(separator: ".").first.map(String.init) ?? name
        printError("note: node \(short) (this host's name; --node sets another)")
        return short
    }
}
