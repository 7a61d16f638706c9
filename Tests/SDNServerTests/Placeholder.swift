import Testing

@Suite struct SDNServerPlaceholder {}
