import Foundation
import PacerCore
import PacerStorage

/// Each account's limiter as a token bucket: capacity (the limit, or less while paced down after rate-limit
/// answers), tokens spent in the current window (each returns one window after it was spent), cool-down.
public struct AccountBucket: Sendable, Equatable {
    public var capacity: Int
    public var spent: Int
    public var windowMilliseconds: Int64
    public var cooldownUntil: Int64?
    /// Calls finished per second over the last minute.
    public var rate: Double = 0
}

/// `status --json` and the dashboard's `GET /api/status`: the same shape from one place.
public enum StatusView {
    public static func buckets(_ store: any PacerStore, _ report: StatusReport, now: Int64) throws -> [String: AccountBucket] {
        var out: [String: AccountBucket] = [:]
        let recent = try store.finishedSince(now - 60_000)
        for a in report.accounts {
            let window = a.limit.bucketWindowMilliseconds()
            let p = try store.pacing(account: a.account, nowMilliseconds: now, windowMilliseconds: window,
                                     configuredCount: a.limit.count)
            // The pacing's instants are on the store's clock; the cool-down's end is shown on ours.
            let cooling = p.pacing.cooldownUntil > p.now
            out[a.account] = AccountBucket(capacity: p.pacing.capacity(now: p.now, windowMilliseconds: window),
                                           spent: p.spentInWindow, windowMilliseconds: window,
                                           cooldownUntil: cooling ? p.pacing.cooldownUntil - p.now + now : nil,
                                           rate: Double(recent[a.account] ?? 0) / 60)
        }
        return out
    }

    public static func counts(_ counts: [CallState: Int]) -> JSONValue {
        .object(CallState.allCases.map { .init($0.rawValue, .number(String(counts[$0] ?? 0))) })
    }

    public static func json(_ report: StatusReport, buckets: [String: AccountBucket] = [:],
                            brokenSchedules: [ScheduleRecord] = []) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("runs", .array(report.runs.map { r in
                .object([.init("run", .number(String(r.run))), .init("job", .string(r.job)),
                         .init("account", .string(r.account)), .init("counts", counts(r.counts))])
            })),
            .init("accounts", .array(report.accounts.map { a in
                var members: [JSONValue.Member] = [
                    .init("account", .string(a.account)), .init("paused", .bool(a.paused)),
                    .init("reason", a.pausedReason.map(JSONValue.string) ?? .null), .init("counts", counts(a.counts))]
                if let b = buckets[a.account] {
                    members.append(.init("bucket", .object([
                        .init("capacity", .number(String(b.capacity))), .init("spent", .number(String(b.spent))),
                        .init("window_ms", .number(String(b.windowMilliseconds))),
                        .init("rate_per_second", .number(String(format: "%.3f", b.rate))),
                        .init("cooldown_until", b.cooldownUntil.map { .string(Timestamps.iso8601($0)) } ?? .null),
                    ])))
                }
                return .object(members)
            })),
        ]
        if !brokenSchedules.isEmpty {
            members.append(.init("schedule_errors", .array(brokenSchedules.map { s in
                .object([.init("job", .string(s.job)), .init("error", .string(s.lastError ?? ""))])
            })))
        }
        return .object(members)
    }
}
