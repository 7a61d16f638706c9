import Testing

@Suite struct SDNStorePlaceholder {}
