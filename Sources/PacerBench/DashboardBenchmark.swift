import Foundation
import PacerProviders
import PacerRunner
import PacerWeb

/// `pacer-bench scale --parts dashboard`: what the dashboard's polling costs with 1,000 accounts. Two runs of
/// 1,000 Kookeey accounts x 20 calls at 10/1s, one alone and one while a client polls every 2 s the way an
/// operator's page could at worst: the status and the history of every one of the 1,000 accounts. Then, on the
/// drained database (history for every account): bytes and milliseconds per status poll and per account history.
struct DashboardBenchmark {
    let scale: ScaleBenchmark

    func run() async throws {
        let alone = try await drain(polling: false)
        let polled = try await drain(polling: true)
        print(String(format: "  1,000 accounts x 20 at 10/1s: makespan %.2f s alone, %.2f s while polled every 2 s "
                     + "(%.2fx); runner CPU %.2f s and %.2f s", alone.wall, polled.wall, polled.wall / alone.wall,
                     alone.cpu, polled.cpu))
        if let cycle = polled.cycle {
            print(String(format: "    a poll of status + 1,000 histories during the run: %.0f ms, %.0f KB", cycle.ms, cycle.kilobytes))
        }
    }

    /// What the overview asks for every 2 s: the newest runs and one page of accounts, the busiest first.
    static let statusPoll = "status?runs=200&accounts=50&offset=0&filter="

    struct Drained { var wall: Double; var cpu: Double; var cycle: (ms: Double, kilobytes: Double)? }

    func drain(polling: Bool) async throws -> Drained {
        let runner = scale.runner
        let s = try await runner.setup(accounts: 1_000, limit: "10/1s")
        for i in 0..<1_000 { try runner.enqueue(s, account: i, count: 20) }
        let dashboard = Dashboard(store: s.store, token: "bench", now: { Int64(Date().timeIntervalSince1970 * 1000) })
        let (port, stop) = try await dashboard.start(host: "127.0.0.1", port: 0)
        let client = HTTPTransport(timeoutSeconds: 30)
        let base = "http://127.0.0.1:\(port)/api/"
        func get(_ path: String) async throws -> (ms: Double, bytes: Int) {
            let started = Date()
            let reply = try await client.send(SignedRequest(method: .get, url: base + path,
                                                            headers: [.init("Authorization", "Bearer bench")], body: nil))
            guard reply.status == 200 else { throw BenchError("GET \(path): HTTP \(reply.status)") }
            return (Date().timeIntervalSince(started) * 1000, reply.body.count)
        }
        func cycle() async throws -> (ms: Double, kilobytes: Double) {
            let started = Date()
            var bytes = try await get(Self.statusPoll).bytes
            for i in 0..<1_000 { bytes += try await get("accounts/acct\(i)/history?minutes=15").bytes }
            return (Date().timeIntervalSince(started) * 1000, Double(bytes) / 1024)
        }
        let start = Date()
        let before = ScaleBenchmark.usage(RUSAGE_CHILDREN)
        let process = try scale.launch(s.db, ["--drain", "--concurrency", "64", "--max-seconds", "600"])
        let poller = Task { () -> (ms: Double, kilobytes: Double)? in
            guard polling else { return nil }
            var last: (ms: Double, kilobytes: Double)?
            var rounds = 0
            while process.isRunning && rounds < 100 {
                let started = Date()
                last = try? await cycle()
                rounds += 1
                let rest = 2.0 - Date().timeIntervalSince(started)
                if rest > 0 { try? await Task.sleep(for: .milliseconds(Int(rest * 1000))) }
            }
            return last
        }
        process.waitUntilExit()
        let wall = Date().timeIntervalSince(start), cpu = ScaleBenchmark.usage(RUSAGE_CHILDREN) - before
        let seen = await poller.value
        if !polling {
            // On the drained database: the two reads a page makes, five times each.
            var status: [(ms: Double, bytes: Int)] = [], history: [(ms: Double, bytes: Int)] = []
            for _ in 0..<5 {
                status.append(try await get(Self.statusPoll))
                history.append(try await get("accounts/acct7/history?minutes=15"))
            }
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            print(String(format: "  dashboard with 1,000 accounts (drained): status poll %.1f ms, %.0f KB; one account's "
                         + "history %.1f ms, %.1f KB (medians of 5)", median(status.map(\.ms)),
                         Double(status[0].bytes) / 1024, median(history.map(\.ms)), Double(history[0].bytes) / 1024))
            let all = try await cycle()
            print(String(format: "    status + all 1,000 histories, one after the other: %.0f ms, %.0f KB", all.ms, all.kilobytes))
        }
        try await client.shutdown()
        await stop()
        await s.running.stop()
        return Drained(wall: wall, cpu: cpu, cycle: seen)
    }
}
