"""Code both processes use: config model, file formats, locks, atomic writes, status codes."""
