import PacerCLI

/// Everything lives in PacerCLI, so tests drive the same code the binary runs.
@main
enum Pacer {
    static func main() async {
        await PacerCommand.main()
    }
}
