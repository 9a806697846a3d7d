package kernel

// DecompressedImage exposes the decompressed payload to the external tests.
func DecompressedImage(i *Info) []byte { return i.image }
