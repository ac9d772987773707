"""Route modules; each exports `router`."""
