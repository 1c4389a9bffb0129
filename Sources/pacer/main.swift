import PacerCLI

// Everything lives in PacerCLI, so tests drive the same code the binary runs.
PacerCommand.main()
