import Foundation
import PacerCore
import PacerStorage

// pacer-bench: programs that print figures. Run with `swift run -c release pacer-bench SUITE [--calls N]`.
// Suites: enqueue, runner, guarantees (the slow-path and durable-mark figures alone), plan (pacer plan's estimate
// against the run that follows),
// scale [--parts memory,accounts,many,idle,dashboard] [--calls N] (N calls for the memory part; default 1,000,000),
// noise (pacing under a realistic fault mix, and limits lower than configured, with and without KuCoin's headers),
// soak [--kills N] (faults, 3 runners, one SIGKILLed N times; scripts/soak.sh),
// postgres [--parts enqueue,utilization,pipeline,fleet,latency,many] [--calls N] (PostgreSQL beside SQLite: enqueue,
//   utilization, pipeline, many accounts on loopback, across a 1 ms hop and with 50 ms answers; scripts/with-postgres.sh),
// hostile (a wall-clock step, a PostgreSQL partition and a restart while pacer run sends),
// pools [--parts pools,shared,windows,weights,priority,fleet] (limits as the providers define them; docs/pools.md).

let args = CommandLine.arguments.dropFirst()
let suite = args.first { !$0.hasPrefix("--") } ?? "enqueue"
var calls = 1_000_000
if let i = args.firstIndex(of: "--calls"), args.index(after: i) < args.endIndex,
   let n = Int(args[args.index(after: i)]) { calls = n }
var parts: Set<String>?
if let i = args.firstIndex(of: "--parts"), args.index(after: i) < args.endIndex {
    parts = Set(args[args.index(after: i)].split(separator: ",").map(String.init))
}

switch suite {
case "enqueue":
    try EnqueueBenchmark(calls: calls).run()
case "scale":
    try await ScaleBenchmark(calls: calls, parts: parts ?? ["memory", "accounts", "many", "idle"]).run()
case "guarantees":
    try await RunnerBenchmark().guarantees()
case "runner":
    try await RunnerBenchmark().run()
case "plan":
    try await RunnerBenchmark().planAccuracy()
case "postgres":
    var postgres = PostgresBenchmark(calls: calls)
    if let parts { postgres.parts = parts }
    try await postgres.run()
case "noise":
    try await NoiseBenchmark().run()
case "hostile":
    try await HostileBenchmark().run()
case "pools":
    var pools = PoolsBenchmark()
    if let parts { pools.parts = parts }
    try await pools.run()
case "soak":
    var soak = SoakBenchmark()
    if let i = args.firstIndex(of: "--kills"), args.index(after: i) < args.endIndex,
       let n = Int(args[args.index(after: i)]) { soak.kills = n }
    try await soak.run()
default:
    FileHandle.standardError.write(Data("pacer-bench: unknown suite '\(suite)'; known: enqueue, runner, guarantees, scale, noise, soak, postgres, hostile, pools\n".utf8))
    exit(2)
}
