import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import PacerCore
import PacerJobs
import PacerOperations
import PacerQueue
import PacerStorage

/// `pacer web`: the dashboard (one embedded page, no build step, no CDN) and its JSON API, which mirrors the
/// commands (`status --json`, `show --json`, `retry`, `cancel`, `account resume`) with the same shapes.
///
/// Bound to 127.0.0.1 by default. With a token (`pacer web` always has one: the operator's, or a random one it
/// prints in the page's address), every API request must carry `Authorization: Bearer TOKEN`: a wrong or missing
/// one gets 401 and changes nothing, so neither another local user nor a web page (DNS rebinding) can read or act.
/// The page itself holds no data (it asks the API), so it is served to anyone; it reads the token from its URL's
/// `#token=` and keeps it in the tab's session storage. Actions are POST only, with a JSON body type.
public struct Dashboard: Sendable {
    let store: any PacerStore
    let token: String?
    let now: @Sendable () -> Int64

    public init(store: any PacerStore, token: String?, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.token = token
        self.now = now
    }

    /// Starts serving on `host:port` (port 0 picks a free one); returns the bound port and a stop function.
    public func start(host: String, port: Int) async throws -> (port: Int, stop: @Sendable () async -> Void) {
        try await LocalServer.start(router(), host: host, port: port, label: "pacer.web")
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in Self.html(DashboardPage.html) }
        let api = router.group("api").add(middleware: BearerTokenMiddleware(token: token))
            .add(middleware: JSONActionMiddleware())
        api.get("status") { request, _ in
            // `?runs=N`: only the newest N runs (the page asks for 200); without it, all of them, as `status --json`.
            let query = request.uri.queryParameters
            let newest = query.get("runs").flatMap { Int(String($0)) }.map { max(0, $0) }
            // `?accounts=N&offset=K&filter=TEXT`: one page of accounts, the busiest first (the page asks for 50).
            let page = query.get("accounts").flatMap { Int(String($0)) }.map { limit in
                AccountPage(limit: max(1, min(limit, 1_000)), offset: max(0, query.get("offset").flatMap { Int(String($0)) } ?? 0),
                            filter: query.get("filter").map { String($0) } ?? "")
            }
            return try await self.json { try self.status(newestRuns: newest, accounts: page) }
        }
        api.get("runs/:run/calls") { request, context in
            let run = try Self.id(context, "run")
            let query = request.uri.queryParameters
            let state = try query.get("state").map { name -> CallState in
                guard let state = CallState(rawValue: String(name)) else { throw DashboardError.badRequest("unknown state '\(name)'") }
                return state
            }
            let after = try query.get("after").map { text -> Int64 in
                guard let value = Int64(text) else { throw DashboardError.badRequest("after: expected a call id") }
                return value
            }
            let limit = min(max(query.get("limit").flatMap { Int(String($0)) } ?? 50, 1), 500)
            let code: String? = query.get("code").map { String($0) }
            return try await self.json {
                CallView.page(try self.store.calls(run: run, state: state, code: code, after: after, limit: limit), limit: limit)
            }
        }
        api.get("runs/:run/progress") { _, context in
            let run = try Self.id(context, "run")
            return try await self.json { try self.progress(run: run) }
        }
        api.get("calls/:call") { _, context in
            let call = try Self.id(context, "call")
            return try await self.json {
                guard let detail = try self.store.callDetail(call) else { throw StoreError(.notFound, "no call \(call)") }
                return CallView.json(detail)
            }
        }
        api.post("runs/:run/retry") { request, context in
            let run = try Self.id(context, "run")
            let body = try await request.body.collect(upTo: 64 * 1024)
            let states = try Self.states(String(buffer: body))
            return try await self.json {
                ChangeView.json(try self.store.retry(run: run, states: states, nowMilliseconds: self.now()), action: "retry")
            }
        }
        api.post("runs/:run/cancel") { _, context in
            let run = try Self.id(context, "run")
            return try await self.json {
                ChangeView.json(try self.store.cancel(run: run, nowMilliseconds: self.now()), action: "cancel")
            }
        }
        api.get("accounts/:name/history") { request, context in
            let name = try context.parameters.require("name")
            let asked = request.uri.queryParameters.get("minutes").map { Int(String($0)) }
            guard let minutes = asked ?? 15, (1...1_440).contains(minutes) else {
                throw DashboardError.badRequest("minutes: expected a whole number from 1 to 1440")
            }
            return try await self.json { try self.history(account: name, minutes: minutes) }
        }
        api.post("accounts/:name/resume") { _, context in
            let name = try context.parameters.require("name")
            return try await self.json {
                try self.store.resumeAccount(name)
                return .object([.init("account", .string(name)), .init("action", .string("resume"))])
            }
        }
        return router
    }

    /// `GET /api/accounts/NAME/history` (Contract 5): per pool, the buckets that saw traffic over the last
    /// `minutes` (each one window wide: `width_ms`; buckets not listed saw nothing), and the cool-downs.
    func history(account name: String, minutes: Int) throws -> JSONValue {
        guard let account = try store.account(named: name) else {
            throw StoreError(.notFound, "no account named '\(name)'")
        }
        let now = self.now(), since = now - Int64(minutes) * 60_000
        let history = try store.history(account: name, since: since)
        let pools = Dictionary(grouping: history.buckets, by: \.pool)
        let shared = Dictionary(uniqueKeysWithValues: try store.sharedPools().map { ($0.name, $0.windows) })
        /// A pool's shortest window: an own pool's (`NAME:ENDPOINT` is pool NAME kept per endpoint), a shared one's.
        func window(_ pool: String) -> RateLimit {
            let base = pool == "default" ? "" : String(pool.prefix { $0 != ":" })
            return account.limits.pool(named: base)?.windows[0] ?? shared[pool]?.first ?? account.limit
        }
        let own = account.limits.pools.map { PoolKey.display($0.name) }
        let names = own + pools.keys.filter { !own.contains($0) }.sorted()
        return .object([
            .init("account", .string(name)),
            .init("from", .string(Timestamps.iso8601(since))), .init("to", .string(Timestamps.iso8601(now))),
            .init("pools", .array(names.map { pool in
                .object([
                    .init("pool", .string(pool)), .init("limit", .string(window(pool).description)),
                    .init("width_ms", .number(String(window(pool).windowMilliseconds))),
                    .init("buckets", .array((pools[pool] ?? []).map { b in
                        .object([.init("at", .string(Timestamps.iso8601(b.start))),
                                 .init("sent", .number(String(b.sent))), .init("refused", .number(String(b.refused)))])
                    })),
                ])
            })),
            .init("cooldowns", .array(history.coolDowns.map { c in
                .object([.init("pool", .string(c.pool)), .init("from", .string(Timestamps.iso8601(c.from))),
                         .init("until", .string(Timestamps.iso8601(c.until)))])
            })),
        ])
    }

    /// Which accounts a status poll shows: those whose name contains `filter`, the busiest first (calls finished in
    /// the last minute, then work left, then by name), `limit` of them from `offset`. Only they get their bucket
    /// read: with 1,000 accounts that is what keeps a poll cheap.
    struct AccountPage: Sendable {
        var limit: Int
        var offset: Int
        var filter: String
    }

    /// `GET /api/runs/ID/progress`: the run's calls finished per 10 s over its last hour, its rate over the last
    /// minute and the time left at that rate (`null` while nothing finished in the last minute).
    func progress(run: Int64) throws -> JSONValue {
        guard let status = try store.status().runs.first(where: { $0.run == run }) else {
            throw StoreError(.notFound, "no run \(run)")
        }
        let now = self.now(), width: Int64 = 10_000
        let buckets = try store.runProgress(run: run, since: now - 3_600_000, width: width)
        // Whole buckets that started in the last minute (the newest is still filling: its share counts as is).
        let lastMinute = buckets.filter { $0.at >= now - 60_000 }.reduce(0) { $0 + $1.finished }
        let rate = Double(lastMinute) / 60
        let left = status.total - status.finished
        return .object([
            .init("run", .number(String(run))), .init("total", .number(String(status.total))),
            .init("done", .number(String(status.finished))),
            .init("rate_per_second", .number(String(format: "%.3f", rate))),
            .init("eta_seconds", left == 0 ? .number("0") : rate > 0 ? .number(String(format: "%.0f", Double(left) / rate)) : .null),
            .init("width_ms", .number(String(width))),
            .init("buckets", .array(buckets.map { .object([.init("at", .string(Timestamps.iso8601($0.at))),
                                                            .init("finished", .number(String($0.finished)))]) })),
        ])
    }

    /// `status --json`, plus the schedules with their next tick.
    func status(newestRuns: Int? = nil, accounts page: AccountPage? = nil) throws -> JSONValue {
        var report = try store.status()
        let allRuns = report.runs.count, allAccounts = report.accounts.count
        if let newestRuns { report.runs = Array(report.runs.suffix(newestRuns)) }
        let now = self.now()
        var matching = allAccounts
        if let page {
            let recent = try store.finishedSince(now - 60_000)
            let needle = page.filter.lowercased()
            func left(_ a: AccountStatus) -> Int { [CallState.queued, .retrying, .inFlight].reduce(0) { $0 + (a.counts[$1] ?? 0) } }
            let chosen = report.accounts.filter { needle.isEmpty || $0.account.lowercased().contains(needle) }
                .sorted { a, b in
                    let (ra, rb) = (recent[a.account] ?? 0, recent[b.account] ?? 0)
                    if ra != rb { return ra > rb }
                    if left(a) != left(b) { return left(a) > left(b) }
                    return a.account < b.account
                }
            matching = chosen.count
            report.accounts = Array(chosen.dropFirst(page.offset).prefix(page.limit))
        }
        let schedules = try store.schedules()
        var json = StatusView.json(report, limiter: try StatusView.limiter(store, report, now: now),
                                   brokenSchedules: schedules.filter { $0.lastError != nil })
        if case .object(var members) = json {
            members.append(.init("schedules", .array(schedules.map { s in
                let spec = try? JobFileParser.parse(yaml: s.source, file: s.file)
                let next = spec?.schedule.flatMap { Scheduler.nextTick($0, timezone: spec?.timezone, after: now) }
                return .object([
                    .init("job", .string(s.job)), .init("file", .string(s.file)),
                    .init("schedule", spec?.schedule.map { .string($0.text) } ?? .null),
                    .init("next_tick", next.map { .string(Timestamps.iso8601($0)) } ?? .null),
                    .init("last_tick", s.lastTick.map { .string(Timestamps.iso8601($0)) } ?? .null),
                    .init("error", s.lastError.map(JSONValue.string) ?? .null),
                ])
            })))
            members.append(.init("now", .string(Timestamps.iso8601(now))))
            members.append(.init("runs_total", .number(String(allRuns))))
            members.append(.init("accounts_total", .number(String(allAccounts))))
            members.append(.init("accounts_matching", .number(String(matching))))
            json = .object(members)
        }
        return json
    }

    /// Runs a store call off the cooperative pool and answers with its JSON, or with the error's status and text.
    func json(_ body: @escaping @Sendable () throws -> JSONValue) async throws -> Response {
        do {
            return Self.json(try await StoreExecutor.run(body))
        } catch let error as StoreError {
            let status: HTTPResponse.Status = switch error.kind {
            case .notFound, .unknownAccount: .notFound
            case .conflict: .conflict
            case .invalid: .badRequest
            default: .internalServerError
            }
            return Self.json(ChangeView.error(error.message), status: status)
        }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: value.compactText + "\n")))
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func id(_ context: BasicRequestContext, _ name: String) throws -> Int64 {
        guard let text = context.parameters.get(name), let id = Int64(text) else {
            throw DashboardError.badRequest("\(name): expected a number")
        }
        return id
    }

    /// A retry's body: `{"states":["failed","dead"]}`; empty or no `states` means the default (failed, dead).
    static func states(_ body: String) throws -> Set<CallState> {
        guard !body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return CallState.retriedByDefault }
        guard let json = try? JSONValue(parsing: body) else { throw DashboardError.badRequest("the body is not JSON") }
        guard let list = json["states"] else { return CallState.retriedByDefault }
        guard case .array(let items) = list else { throw DashboardError.badRequest("states: expected an array of names") }
        return Set(try items.map { item in
            guard case .string(let name) = item, let state = CallState(rawValue: name) else {
                throw DashboardError.badRequest("states: unknown state \(item.compactText)")
            }
            return state
        })
    }
}

/// Actions (POST) must say `Content-Type: application/json`. A form or a `no-cors` fetch from another web page
/// cannot send that without the browser asking first (a preflight this server never approves), so a page the
/// operator happens to visit cannot retry, cancel or resume anything through their browser.
struct JSONActionMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post else { return try await next(request, context) }
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
            return Dashboard.json(ChangeView.error("actions take Content-Type: application/json"), status: .unsupportedMediaType)
        }
        return try await next(request, context)
    }
}

/// 401 for an API request without the right `Authorization: Bearer TOKEN` (when a token is set).
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        guard Self.same(given, "Bearer " + token) else {
            return Dashboard.json(ChangeView.error("missing or wrong token (Authorization: Bearer ...)"), status: .unauthorized)
        }
        return try await next(request, context)
    }

    /// Compares in time that does not depend on where the texts differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }
}

public struct DashboardError: Error, CustomStringConvertible, HTTPResponseError {
    public let description: String
    public let status: HTTPResponse.Status

    init(_ message: String, status: HTTPResponse.Status = .internalServerError) {
        description = message
        self.status = status
    }

    static func badRequest(_ message: String) -> DashboardError { DashboardError(message, status: .badRequest) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Dashboard.json(ChangeView.error(description), status: status)
    }
}
