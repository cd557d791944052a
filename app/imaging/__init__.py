"""Image reading, pure: upload bytes -> decoded image -> 28x28 uint8 -> float32 (784,)."""
