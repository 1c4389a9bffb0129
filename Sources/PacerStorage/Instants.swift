extension Int64 {
    /// This instant moved onto another clock by `shift` (a store's clock minus the caller's), saturating: a lease
    /// "until forever" (`Int64.max`) stays forever instead of overflowing.
    public func shifted(by shift: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(shift)
        return overflow ? (shift > 0 ? .max : .min) : sum
    }
}
