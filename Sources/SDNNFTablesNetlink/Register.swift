/// Register numbers (`enum nft_registers`).
enum Register {
    static let verdict: UInt32 = 0
    static let first: UInt32 = 1
    /// The register holding 32-bit slot `slot` (0-based) of the register file: 128-bit register numbers
    /// where the slot starts one (nft prefers them for compatibility), 32-bit numbers otherwise.
    static func forSlot(_ slot: Int) -> UInt32 {
        slot % 4 == 0 ? 1 + UInt32(slot / 4) : 8 + UInt32(slot)
    }

    /// The 32-bit slot a register number starts at (the inverse of `forSlot`).
    static func slot(of register: UInt32) -> Int? {
        switch register {
        case 1...4: Int(register - 1) * 4
        case 8...23: Int(register - 8)
        default: nil
        }
    }
}
