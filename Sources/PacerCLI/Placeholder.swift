enum _PlaceholderPacerCLI {}
