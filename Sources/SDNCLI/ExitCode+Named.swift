import ArgumentParser

/// The exit statuses every `sdn` command uses, by meaning (README, "Using it").
extension ExitCode {
    /// 1: the input has errors, the kernel refused a change, or the command failed.
    static let failed = ExitCode(1)
    /// 2: the input could not be read or the arguments are wrong.
    static let badInput = ExitCode(2)
    /// 3: `plan` has changes pending, `diff` found drift.
    static let changesPending = ExitCode(3)
}
