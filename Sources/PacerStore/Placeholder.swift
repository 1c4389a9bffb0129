enum _PlaceholderPacerStore {}
