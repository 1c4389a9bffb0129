import PacerCore
import PacerStorage

/// One call as `pacer show --json` and `GET /api/calls/ID` give it, and a run's calls as `GET /api/runs/ID/calls`
/// pages them (Contract 3's shapes). Stored JSON text (params, a payload) is embedded as JSON, not as a string.
public enum CallView {
    public static func json(_ detail: CallDetail) -> JSONValue {
        let r = detail.record
        var members = base(r)
        if let body = detail.body { members.append(.init("body", embedded(body))) }
        members.append(.init("attempts", .array(detail.attempts.map { a in
            .object([
                .init("attempt", .number(String(a.attempt))),
                .init("started_at", a.startedAt.map { .string(Timestamps.iso8601($0)) } ?? .null),
                .init("latency_ms", a.latencyMilliseconds.map { .number(String($0)) } ?? .null),
                .init("http_status", a.httpStatus.map { .number(String($0)) } ?? .null),
                .init("code", a.code.map(JSONValue.string) ?? .null),
                .init("classification", .string(a.classification)),
                .init("message", a.message.map(JSONValue.string) ?? .null),
                .init("runner", .string(a.runner)),
            ])
        })))
        members.append(.init("result", result(r)))
        return .object(members)
    }

    /// One call of a page: what `show` says without its tries.
    public static func summary(_ r: ResultRecord) -> JSONValue {
        .object(base(r) + [.init("attempt_count", .number(String(r.attempts))), .init("result", result(r))])
    }

    public static func page(_ records: [ResultRecord], limit: Int) -> JSONValue {
        .object([
            .init("calls", .array(records.map(summary))),
            // The cursor for the next page (`after=`), when this one was full.
            .init("next_after", records.count == limit ? records.last.map { .number(String($0.call)) } ?? .null : .null),
        ])
    }

    static func base(_ r: ResultRecord) -> [JSONValue.Member] {
        var members: [JSONValue.Member] = [
            .init("call", .number(String(r.call))), .init("run", .number(String(r.run))), .init("job", .string(r.job)),
            .init("account", .string(r.account)), .init("method", .string(r.method)), .init("path", .string(r.path)),
            .init("params", embedded(r.params)), .init("state", .string(r.state.rawValue)),
        ]
        if let key = r.key { members.append(.init("key", .string(key))) }
        return members
    }

    static func result(_ r: ResultRecord) -> JSONValue {
        guard r.state.isTerminal || r.finishedAtMilliseconds != nil else { return .null }
        return .object([
            .init("http_status", r.httpStatus.map { .number(String($0)) } ?? .null),
            .init("code", r.code.map(JSONValue.string) ?? .null),
            .init("data", r.data.map(embedded) ?? .null),
            .init("error", r.error.map(JSONValue.string) ?? .null),
            .init("finished_at", r.finishedAtMilliseconds.map { .string(Timestamps.iso8601($0)) } ?? .null),
        ])
    }

    /// Stored JSON text as JSON; text that is not JSON (it should always be) as a string.
    static func embedded(_ text: String) -> JSONValue {
        (try? JSONValue(parsing: text)) ?? .string(text)
    }
}

/// What `retry`, `cancel` and `prune` did, as their `--json` and the API's POST answers give it.
public enum ChangeView {
    public static func json(_ change: RunChange, action: String) -> JSONValue {
        .object([.init("run", .number(String(change.run))), .init("action", .string(action)),
                 .init("calls", .number(String(change.calls)))])
    }

    public static func json(_ prune: PruneSummary) -> JSONValue {
        .object([.init("runs", .number(String(prune.runs))), .init("calls", .number(String(prune.calls))),
                 .init("space_returned", .bool(prune.spaceReturned))])
    }

    public static func error(_ message: String) -> JSONValue {
        .object([.init("error", .string(message))])
    }
}
