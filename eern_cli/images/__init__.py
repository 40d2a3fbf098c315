"""Image files: decoding, encoding (8- and 16-bit), provenance inside outputs, and atomic writes."""
