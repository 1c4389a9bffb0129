import Foundation
import PacerCore
import PacerStorage
import PacerTestSupport
import Synchronization
import Testing
@testable import PacerRunner

/// The runner's small parts, without a network or a wall clock.
@Suite struct RunnerPartsTests {
    static func completion(_ call: Int64) -> Completion {
        Completion(call: call, runner: "r", startedAt: 0, latencyMilliseconds: 1, httpStatus: 200, code: "0",
                   classification: "ok", message: nil, state: .succeeded, attempts: 1, nextAttemptAt: 0, data: nil,
                   error: nil, finishedAt: 1)
    }

    struct WriteFailed: Error {}

    /// An answer already received cannot be asked for again: a failed write keeps the batch, and the next flush
    /// writes it, in order, ahead of newer completions.
    @Test func aFailedWriteKeepsTheAnswers() async throws {
        let failNext = Atomic<Bool>(true)
        let written = Mutex<[Int64]>([])
        let writer = CompletionWriter(batchSize: 100) { batch in
            if failNext.exchange(false, ordering: .relaxed) { throw WriteFailed() }
            written.withLock { $0 += batch.map(\.call) }
            return [:]
        }
        await writer.add(Self.completion(1))
        await writer.add(Self.completion(2))
        await #expect(throws: WriteFailed.self) { try await writer.flush() }
        #expect(await writer.waiting == 2)
        await writer.add(Self.completion(3))
        try await writer.flush()
        #expect(written.withLock { $0 } == [1, 2, 3])
        #expect(await writer.waiting == 0)
        #expect(await writer.written == 3)
    }

    /// Waits (bounded: at most about two seconds) until `condition` holds.
    func eventually(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<2_000 {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return await condition()
    }

    /// A slow account that took every slot while it was alone gives them up as its answers come back, and cannot
    /// hold more than its share while another account has work: the other gets the freed slots.
    @Test func aSlowAccountCannotKeepMoreThanItsShare() async throws {
        let slots = InFlightSlots(8)
        #expect(await slots.acquire(account: "slow", upTo: 8) == 8)
        let fast = Task { await slots.acquire(account: "fast", upTo: 8) }
        #expect(await eventually { await slots.share(of: "slow") == 4 }) // the fast account now waits
        for _ in 0..<4 { await slots.release(account: "slow") }         // four slow answers come back
        #expect(await fast.value == 1)                                   // woken by the first one
        // The fast account comes back for more and gets the rest of its share at once.
        #expect(await slots.acquire(account: "fast", upTo: 8) == 3)
        #expect(await slots.holding("fast") == 4)
        #expect(await slots.holding("slow") == 4)
        // The slow account asks for more: it already holds its share, so it waits...
        let slowAgain = Task { await slots.acquire(account: "slow", upTo: 8) }
        #expect(await eventually { await slots.share(of: "fast") == 4 })
        for _ in 0..<1_000 { await Task.yield() } // a chance to run, counted, not timed
        #expect(await slots.holding("slow") == 4)
        // ...until the fast account is done, then it may have everything.
        await slots.release(account: "fast", 4)
        #expect(await slowAgain.value == 4)
        #expect(await slots.holding("slow") == 8)
    }
}

/// As ssh does with keys: a secret file others can read is refused, with the fix in the message.
@Suite struct SecretFileTests {
    @Test func aSecretFileReadableByOthersIsRefused() throws {
        let dir = TempDir()
        let file = dir.write("secret", "s3cr3t\n")
        let account = Account(name: "a", provider: .kookeey, baseURL: "http://127.0.0.1:9", limit: RateLimit(count: 1, windowMilliseconds: 1_000),
                              credentials: CredentialReferences(key: "k", secretFile: file))
        chmod(file, 0o644)
        let error = try #require(throws: CredentialError.self) { try CredentialResolver.resolve(account) }
        #expect(error.description.contains("can be read by others (mode 644)") && error.description.contains("chmod 600"))
        #expect(!error.description.contains("s3cr3t"))
        chmod(file, 0o600)
        #expect(try CredentialResolver.resolve(account).secret == "s3cr3t")
        // A FIFO (or any non-regular file) is refused rather than read, which could block forever.
        let fifo = dir.url.appendingPathComponent("fifo").path
        mkfifo(fifo, 0o600)
        let viaFifo = Account(name: "f", provider: .kookeey, baseURL: "http://127.0.0.1:9", limit: RateLimit(count: 1, windowMilliseconds: 1_000),
                              credentials: CredentialReferences(key: "k", secretFile: fifo))
        let fifoError = try #require(throws: CredentialError.self) { try CredentialResolver.resolve(viaFifo) }
        #expect(fifoError.description.contains("not a regular file"))
    }
}

/// The live display on a terminal: the busiest accounts that fit, a line for the rest, the total.
@Suite struct ProgressLinesTests {
    typealias Row = ProgressLines.Row

    @Test func theBusiestAccountsFitTheTerminal() {
        var rows = (0..<30).map { Row(name: "acct\($0)", done: 10, left: $0, rate: 2) }
        rows.append(Row(name: "held", done: 0, left: 0, rate: 0, paused: "auth: bad key"))
        let lines = ProgressLines.render(rows, width: 100, height: 10)
        #expect(lines.count == 9, "seven accounts, the rest, the total: \(lines)")
        #expect(lines[0].hasPrefix("acct29 ") && lines[6].hasPrefix("acct23 "), "most work left first")
        #expect(lines[7] == "… 23 more accounts with work")
        #expect(lines[8].hasPrefix("total") && lines[8].contains("300/735") && lines[8].contains("60.0/s"))
        #expect(lines.allSatisfy { $0.count < 100 })
    }

    @Test func aLineSaysProgressRateEtaAndTrouble() {
        #expect(ProgressLines.line(Row(name: "kucoin-main", done: 5, left: 15, rate: 2.5, coolDowns: 3))
                == "kucoin-main        [#####...............] 5/20 2.5/s ETA 6s (3 cool-downs)")
        #expect(ProgressLines.line(Row(name: "kk", done: 0, left: 4, rate: 0, paused: "auth: bad key"))
                == "kk                 [....................] 0/4 0.0/s paused: auth: bad key")
        #expect(ProgressLines.line(Row(name: "done", done: 8, left: 0, rate: 4)).contains("[####################] 8/8"))
        #expect(ProgressLines.render([Row(name: "a", done: 1, left: 1, rate: 1)], width: 12, height: 24).allSatisfy { $0.count <= 11 })
    }
}

@Suite struct NonceTests {
    /// Nonces take eight letters from each draw of the system generator: they keep their length and alphabet,
    /// every letter turns up (none lost to the bias guard), and they do not repeat.
    @Test func noncesUseTheWholeAlphabetAtTheLengthAsked() {
        let alphabet = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var seen = Set<Character>(), nonces = Set<String>()
        for length in [0, 1, 7, 8, 9, 32] { #expect(Nonce.random(length: length).count == length) }
        for _ in 0..<500 {
            let nonce = Nonce.random(length: 32)
            #expect(Set(nonce).isSubset(of: alphabet))
            seen.formUnion(nonce)
            nonces.insert(nonce)
        }
        #expect(seen == alphabet)
        #expect(nonces.count == 500)
    }
}
