public import SDNNFTables

extension Value {
    /// A symbol by name, unchecked: tests write catalog names from loops over the catalog, and also
    /// names the catalog lacks to test the refusals.
    public static func symbol(named name: String) -> Value { .symbol(Symbol(unchecked: name)) }
}
