import Dispatch
import Foundation
import PacerStorage
import Testing

@Suite struct StoreExecutorTests {
    /// A store call that does not return (a reply that never comes, a lock held elsewhere) parks its own thread,
    /// not the calls submitted after it: they go to the queues with nothing waiting. Dealt round-robin, every
    /// eighth call used to wait behind it.
    @Test func aStuckCallHoldsUpNoCallAfterIt() async throws {
        let release = DispatchSemaphore(value: 0)
        StoreExecutor.submit { _ = release.wait(timeout: .now() + 60) }
        let started = Date()
        for i in 0..<40 { #expect(try await StoreExecutor.run { i } == i) }
        let took = Date().timeIntervalSince(started)
        release.signal()
        // Round-robin, a call behind the stuck one waited its full minute; here other tests' store calls share
        // the queues too (the suite runs in one process, loading both cores), so the bound is generous: anything
        // under the stuck call's minute shows none waited behind it.
        #expect(took < 50, "40 quick calls took \(took) s beside a stuck one")
    }
}
