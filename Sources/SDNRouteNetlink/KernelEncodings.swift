import SDNDataplane
import SDNModel
internal import CNLRoute

// The kernel's numbers for the model's enumerations, in one place (each with its inverse).

extension Bond.Mode {
    /// BOND_MODE_* (include/uapi/linux/if_bonding.h).
    var kernelValue: UInt8 {
        switch self {
        case .balanceRR: 0
        case .activeBackup: 1
        case .balanceXOR: 2
        case .broadcast: 3
        case .lacp: 4
        case .balanceTLB: 5
        case .balanceALB: 6
        }
    }

    init?(kernelValue: UInt8) {
        guard let mode = Self.allCases.first(where: { $0.kernelValue == kernelValue }) else { return nil }
        self = mode
    }
}

extension Bond.LACPRate {
    var kernelValue: UInt8 { self == .fast ? 1 : 0 }
    init(kernelValue: UInt8) { self = kernelValue == 0 ? .slow : .fast }
}

extension Bond.TransmitHashPolicy {
    /// BOND_XMIT_POLICY_*.
    var kernelValue: UInt8 {
        switch self {
        case .layer2: 0
        case .layer3and4: 1
        case .layer2and3: 2
        case .encap2and3: 3
        case .encap3and4: 4
        case .vlanAndSourceMAC: 5
        }
    }

    init?(kernelValue: UInt8) {
        guard let policy = Self.allCases.first(where: { $0.kernelValue == kernelValue }) else { return nil }
        self = policy
    }
}

extension VLANProtocol {
    /// The ethertype (ETH_P_8021Q, ETH_P_8021AD).
    var ethertype: UInt16 { self == .dot1ad ? 0x88a8 : 0x8100 }
    init?(ethertype: UInt16) {
        switch ethertype {
        case 0x8100: self = .dot1Q
        case 0x88a8: self = .dot1ad
        default: return nil
        }
    }
}

extension MacvlanLinkSettings.Mode {
    /// MACVLAN_MODE_*.
    var kernelValue: UInt32 {
        switch self {
        case .private: MACVLAN_MODE_PRIVATE.rawValue
        case .vepa: MACVLAN_MODE_VEPA.rawValue
        case .bridge: MACVLAN_MODE_BRIDGE.rawValue
        case .passthru: MACVLAN_MODE_PASSTHRU.rawValue
        case .source: MACVLAN_MODE_SOURCE.rawValue
        }
    }

    init?(kernelValue: UInt32) {
        guard let mode = Self.allCases.first(where: { $0.kernelValue == kernelValue }) else { return nil }
        self = mode
    }
}
