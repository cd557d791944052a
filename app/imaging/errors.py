"""What can be wrong with an upload: each a ValueError whose message names what and why."""


class ImageError(ValueError):
    """An upload that cannot be turned into a digit; subclasses say why."""


class EmptyImage(ImageError):
    """The upload has no bytes."""


class UndecodableImage(ImageError):
    """A known image format whose data is corrupt, truncated or zero-sized."""


class UnsupportedFormat(ImageError):
    """Not an image, or an image format the service does not accept."""


class ImageTooLarge(ImageError):
    """More pixels than the configured limit (or a decompression bomb)."""


class NoInk(ImageError):
    """A decodable image with nothing drawn on it."""
