import ArgumentParser

/// `pacer`: the root of the command line (docs/commands.md).
public struct PacerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pacer",
        abstract: "A rate-limited batch job runner for signed third-party HTTP APIs.",
        version: "0.1.0",
        subcommands: [AccountCommand.self, EnqueueCommand.self, PlanCommand.self, StatusCommand.self, ResultsCommand.self,
                      RunCommand.self, ScheduleCommand.self, CallCommand.self, SandboxCommand.self, DemoCommand.self,
                      MigrateStoreCommand.self, ShowCommand.self, RetryCommand.self, CancelCommand.self, PruneCommand.self,
                      WebCommand.self, PoolCommand.self])

    public init() {}
}
