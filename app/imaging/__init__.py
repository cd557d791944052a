"""Image reading, pure, in one pass: header -> decode -> photo -> normalize -> pixels."""
