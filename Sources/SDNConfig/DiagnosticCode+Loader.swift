public import SDNModel

/// Problems found while reading YAML documents (docs/schema.md, "Reported while reading").
extension DiagnosticCode {
    public static let aliasExpansion = DiagnosticCode("alias-expansion")
    public static let conflictingKeys = DiagnosticCode("conflicting-keys")
    public static let duplicateKey = DiagnosticCode("duplicate-key")
    public static let expectedBool = DiagnosticCode("expected-bool")
    public static let expectedList = DiagnosticCode("expected-list")
    public static let expectedMapping = DiagnosticCode("expected-mapping")
    public static let expectedNumber = DiagnosticCode("expected-number")
    public static let expectedScalar = DiagnosticCode("expected-scalar")
    public static let fileTooLarge = DiagnosticCode("file-too-large")
    public static let invalidGuestId = DiagnosticCode("invalid-guest-id")
    public static let invalidInterfaceName = DiagnosticCode("invalid-interface-name")
    public static let invalidKey = DiagnosticCode("invalid-key")
    public static let invalidNic = DiagnosticCode("invalid-nic")
    public static let invalidValue = DiagnosticCode("invalid-value")
    public static let kindMismatch = DiagnosticCode("kind-mismatch")
    public static let misplacedKey = DiagnosticCode("misplaced-key")
    public static let missingKey = DiagnosticCode("missing-key")
    public static let ruleSyntax = DiagnosticCode("rule-syntax")
    public static let unknownKey = DiagnosticCode("unknown-key")
    public static let yamlSyntax = DiagnosticCode("yaml-syntax")
    public static let yamlTag = DiagnosticCode("yaml-tag")
}
