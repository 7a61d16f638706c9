import Testing

@Suite struct SDNDaemonPlaceholder {}
