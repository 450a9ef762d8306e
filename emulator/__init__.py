"""cxemu: a local emulator of contact-center vendor APIs."""

__version__ = "0.1.0"
