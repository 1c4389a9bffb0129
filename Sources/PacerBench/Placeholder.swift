enum _PlaceholderPacerBench {}
