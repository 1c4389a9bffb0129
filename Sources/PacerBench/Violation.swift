import PacerEmulator

extension EmulatorStats.Account {
    /// The account broke its limit of `limit` per window: the emulator saw more in one window, or refused a call
    /// as over the limit. What every benchmark counts as a violation.
    func violated(limit: Int) -> Bool {
        maxSentInWindow > limit || (rejected["rate_limited"] ?? 0) > 0
    }
}
