public import SDNModel

/// What `sdn import libvirt` cannot carry over (docs/import-libvirt.md, "Diagnostics").
extension DiagnosticCode {
    public static let libvirtDuplicateGuest = DiagnosticCode("libvirt-duplicate-guest")
    public static let libvirtInterfaceType = DiagnosticCode("libvirt-interface-type")
    public static let libvirtInvalidMap = DiagnosticCode("libvirt-invalid-map")
    public static let libvirtMissingMac = DiagnosticCode("libvirt-missing-mac")
    public static let libvirtNoVmid = DiagnosticCode("libvirt-no-vmid")
    public static let libvirtUnknownBridge = DiagnosticCode("libvirt-unknown-bridge")
    public static let libvirtVlanOnPlainVnet = DiagnosticCode("libvirt-vlan-on-plain-vnet")
}
